"""`elu-twins watch CP`: one charge point's OCPP frames (or other events), live, in the terminal.

It follows the charge point's event stream (`GET /twin/charge-point/{id}/events`) on a
running ELU Twins, found and authenticated as `elu-twins fleet` does (ELU_PUBLIC_URL,
ELU_TOKEN / --token, or --username/--password). Exit codes: 0 (stopped with Ctrl-C or after
--count events), 1 the API refused (its message is printed), 2 a bad command line.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from elu_twins.fleet_cli import (
    DEFAULT_URL,
    Api,
    ApiError,
    AsJson,
    Password,
    Token,
    Url,
    Username,
    failed,
    open_api,
)

ARROWS = {"sent": "→", "received": "←"}


def find_charge_point(api: Api, charge_point: str) -> str:
    """The id of the charge point named by its id or its cid."""
    try:
        return str(uuid.UUID(charge_point))
    except ValueError:
        pass
    offset = 0
    while True:
        page = api.send("GET", "/twin/charge-point/", params={"offset": offset, "limit": 1000})
        for item in page["data"]:
            if item["cid"] == charge_point:
                return str(item["id"])
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            raise ApiError(f"you have no charge point with id or cid {charge_point!r}")


def describe(event: dict[str, Any]) -> str:
    """One line for a person: time, direction, message type, action, payload."""
    at = str(event.get("at", ""))[11:23]
    if event.get("kind") == "frame":
        arrow = ARROWS.get(event["direction"], "?")
        action = event.get("action") or ""
        payload = json.dumps(event.get("payload"), separators=(",", ":"))
        return f"{at} {arrow} {event['message_type']} {action} {payload}"
    if event.get("kind") == "dropped":
        return f"{at} (this terminal was too slow: {event.get('count')} events dropped)"
    rest = {k: v for k, v in event.items() if k not in ("kind", "charge_point_id", "at")}
    return f"{at} {event.get('kind')} {json.dumps(rest, separators=(',', ':'), default=str)}"


def watch(
    charge_point: Annotated[str, typer.Argument(help="the charge point's id or cid")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    username: Username = None,
    password: Password = None,
    kinds: Annotated[
        str, typer.Option(help="comma-separated kinds of event (frame, connector, meter, ...)")
    ] = "frame",
    count: Annotated[
        int | None, typer.Option(min=1, help="stop after this many events (default: never)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Stream one charge point's OCPP frames live (both directions), as they happen."""
    api = open_api(url, token, username, password)
    try:
        charge_point_id = find_charge_point(api, charge_point)
    except ApiError as error:
        raise failed(error) from error
    console = Console(highlight=False)
    seen = 0
    path = f"/twin/charge-point/{charge_point_id}/events"
    try:
        with api.client.stream(
            "GET", path, params={"kinds": kinds}, timeout=httpx.Timeout(10, read=None)
        ) as answer:
            if answer.status_code >= 400:
                answer.read()
                raise failed(ApiError(f"GET {path}: {answer.status_code} {answer.text}"))
            for line in answer.iter_lines():
                if not line.startswith("data:"):
                    continue  # keep-alive comments, blank separators
                event = json.loads(line[5:])
                if as_json:
                    print(json.dumps(event), flush=True)
                else:
                    console.print(escape(describe(event)), soft_wrap=True)
                seen += 1
                if count is not None and seen >= count:
                    return
    except httpx.HTTPError as error:
        raise failed(ApiError(f"the stream from {url} ended: {error}")) from error
    except KeyboardInterrupt:
        return
