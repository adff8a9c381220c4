"""`elu-twins fleet`: run a fleet scenario against a running ELU Twins from the terminal.

It talks to the public API like any client (ELU_PUBLIC_URL, a token from ELU_TOKEN or
--token, or a login with --username/--password). Exit codes: 0 done, 1 the API refused
or failed (its message is printed), 2 a bad command line or scenario file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

fleet_app = typer.Typer(
    help="Run fleets of charge points and vehicles against a CSMS (a load test).",
    no_args_is_help=True,
)

#: Seconds between two reads of a running fleet.
POLL_SECONDS = 1.0

Url = Annotated[
    str,
    typer.Option("--url", envvar="ELU_PUBLIC_URL", help="the public API"),
]
Token = Annotated[str | None, typer.Option(envvar="ELU_TOKEN", help="a bearer or app token")]
Username = Annotated[str | None, typer.Option(help="log in as this user (instead of a token)")]
Password = Annotated[str | None, typer.Option(help="the user's password")]
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
FleetId = Annotated[str, typer.Argument(help="the fleet's id")]

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    pass


class Api:
    def __init__(self, url: str, token: str | None, username: str | None, password: str | None):
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=120)
        if token is None:
            if username is None or password is None:
                raise typer.BadParameter(
                    "give a token (--token or ELU_TOKEN), or --username and --password"
                )
            answer = self.send("POST", "/token", data={"username": username, "password": password})
            token = answer["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def send(self, method: str, path: str, **options: Any) -> Any:
        try:
            answer = self.client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise ApiError(f"cannot reach {self.client.base_url}: {error}") from error
        if answer.status_code >= 400:
            try:
                detail = answer.json().get("detail", answer.text)
            except ValueError:
                detail = answer.text
            if not isinstance(detail, str):
                detail = json.dumps(detail)
            raise ApiError(f"{method} {path}: {answer.status_code} {detail}")
        if answer.status_code == 204:
            return None
        return answer.json()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.send("POST", "/twin/fleet/", json=body)

    def read(self, fleet_id: str) -> dict[str, Any]:
        return self.send("GET", f"/twin/fleet/{fleet_id}")

    def summary(self, fleet_id: str) -> dict[str, Any]:
        return self.send("GET", f"/twin/fleet/{fleet_id}/summary")

    def stop(self, fleet_id: str) -> dict[str, Any]:
        return self.send("POST", f"/twin/fleet/{fleet_id}/stop", params={"timeout": 600})

    def delete(self, fleet_id: str) -> None:
        self.send("DELETE", f"/twin/fleet/{fleet_id}", params={"timeout": 600})


def failed(error: Exception) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(1)


def load_scenario(path: Path) -> dict[str, Any]:
    """The YAML file as the body of POST /twin/fleet (the API checks it)."""
    try:
        body = yaml.safe_load(path.read_text())
    except OSError as error:
        raise typer.BadParameter(f"cannot read {path}: {error}") from error
    except yaml.YAMLError as error:
        raise typer.BadParameter(f"{path} is not valid YAML: {error}") from error
    if not isinstance(body, dict):
        raise typer.BadParameter(f"{path} must hold a mapping (charge_points, scenario, ...)")
    return body


def progress_table(fleet: dict[str, Any]) -> Table:
    """What a load test looks like while it runs."""
    counts = fleet["counts"]
    p99 = max((latency["p99_ms"] or 0.0 for latency in counts["latency"].values()), default=None)
    table = Table(title=f"fleet {fleet['name']} ({fleet['id']}): {fleet['status']}")
    for column in (
        "connected",
        "booted",
        "charging",
        "started",
        "ended",
        "rejected",
        "messages/s",
        "CSMS p99 ms",
        "errors",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{counts['connected']}/{counts['charge_points']}",
        str(counts["booted"]),
        str(counts["charging"]),
        str(counts["sessions_started"]),
        str(counts["sessions_ended"]),
        str(counts["sessions_rejected"]),
        f"{counts['messages_per_second']:g}",
        "-" if p99 is None else f"{p99:.1f}",
        str(sum(counts["errors"].values())),
    )
    return table


def latency_table(counts: dict[str, Any]) -> Table:
    table = Table(title="CSMS response times and messages per action")
    for column in ("action", "sent", "received", "answers timed", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "action" else "right")
    for action, messages in counts["messages"].items():
        latency = counts["latency"].get(action)
        table.add_row(
            action,
            str(messages["sent"]),
            str(messages["received"]),
            str(latency["count"]) if latency else "-",
            f"{latency['p50_ms']:.1f}" if latency and latency["p50_ms"] is not None else "-",
            f"{latency['p99_ms']:.1f}" if latency and latency["p99_ms"] is not None else "-",
        )
    return table


def _summary_json(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    result = {
        "id": summary["id"],
        "status": summary["status"],
        "seed": summary["seed"],
        "duration_seconds": summary["duration_seconds"],
        "sessions": {
            "started": counts["sessions_started"],
            "ended": counts["sessions_ended"],
            "rejected": counts["sessions_rejected"],
        },
        "messages": counts["messages"],
        "latency": {
            action: {"p50_ms": latency["p50_ms"], "p99_ms": latency["p99_ms"]}
            for action, latency in counts["latency"].items()
        },
        "counts": counts,
    }
    return json.dumps(result, indent=2)


def _print_final(console: Console, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(_summary_json(summary))
        return
    console.print(progress_table(summary))
    console.print(latency_table(summary["counts"]))
    if summary["counts"]["errors"]:
        console.print("errors:", summary["counts"]["errors"])


@fleet_app.command("run")
def run(
    scenario: Annotated[Path, typer.Argument(help="the fleet as YAML (see README, examples/)")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    username: Username = None,
    password: Password = None,
    duration: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="real seconds to run, then stop cleanly (default: the "
            "file's scenario.duration_seconds, else until Ctrl+C)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create the fleet, show its progress live, and stop it cleanly after --duration or on
    Ctrl+C."""
    body = load_scenario(scenario)
    if duration is not None:
        body.setdefault("scenario", {})
        if not isinstance(body["scenario"], dict):
            raise typer.BadParameter("scenario must be a mapping")
        body["scenario"]["duration_seconds"] = duration
    console = Console(stderr=as_json)
    try:
        api = Api(url, token, username, password)
        fleet = api.create(body)
        try:
            with Live(progress_table(fleet), console=console, refresh_per_second=2) as live:
                while fleet["status"] not in ("stopped", "failed"):
                    time.sleep(POLL_SECONDS)
                    fleet = api.read(fleet["id"])
                    live.update(progress_table(fleet))
        except KeyboardInterrupt:
            console.print("stopping: ending the sessions and disconnecting ...")
            fleet = api.stop(fleet["id"])
        summary = api.summary(fleet["id"])
    except ApiError as error:
        raise failed(error) from error
    _print_final(console, summary, as_json)
    if summary["status"] == "failed":
        raise typer.Exit(1)


def open_api(url: str, token: str | None, username: str | None, password: str | None) -> Api:
    try:
        return Api(url, token, username, password)
    except ApiError as error:
        raise failed(error) from error


@fleet_app.command("status")
def status(
    fleet_id: FleetId,
    url: Url = DEFAULT_URL,
    token: Token = None,
    username: Username = None,
    password: Password = None,
    as_json: AsJson = False,
) -> None:
    """Show a fleet's progress and counts."""
    api = open_api(url, token, username, password)
    try:
        summary = api.summary(fleet_id)
    except ApiError as error:
        raise failed(error) from error
    _print_final(Console(), summary, as_json)


@fleet_app.command("stop")
def stop(
    fleet_id: FleetId,
    url: Url = DEFAULT_URL,
    token: Token = None,
    username: Username = None,
    password: Password = None,
    as_json: AsJson = False,
) -> None:
    """End the fleet's sessions towards the CSMS and disconnect its charge points."""
    api = open_api(url, token, username, password)
    try:
        api.stop(fleet_id)
        summary = api.summary(fleet_id)
    except ApiError as error:
        raise failed(error) from error
    _print_final(Console(), summary, as_json)


@fleet_app.command("delete")
def delete(
    fleet_id: FleetId,
    url: Url = DEFAULT_URL,
    token: Token = None,
    username: Username = None,
    password: Password = None,
) -> None:
    """Stop the fleet if it runs, and delete its charge points and vehicles."""
    api = open_api(url, token, username, password)
    try:
        api.delete(fleet_id)
    except ApiError as error:
        raise failed(error) from error
    typer.echo(f"deleted fleet {fleet_id}")
