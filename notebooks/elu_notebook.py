"""What the notebooks share: where the running ELU Twins is, and the session plot.

The notebooks read the settings `elu-twins up` reads (README, "Using the API"), so a
notebook finds the instance that the same environment started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Addresses a server listens on but a client cannot connect to.
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class Instance:
    """The URLs of a running `elu-twins up` and its operator key."""

    public_url: str
    private_url: str
    csms_v16_api: str
    csms_v201_api: str
    operator_key: str

    @property
    def csms_v16_ws(self) -> str:
        """The `csms_url` of a 1.6 charge point that connects to the bundled CSMS."""
        return "ws" + self.csms_v16_api.removeprefix("http")

    @property
    def csms_v201_ws(self) -> str:
        return "ws" + self.csms_v201_api.removeprefix("http")

    @classmethod
    def from_environment(cls) -> Instance:
        """`ELU_HOST`, `ELU_PUBLIC_API_PORT`, `ELU_PRIVATE_API_PORT`, `ELU_CSMS_V16_PORT`,
        `ELU_CSMS_V201_PORT`, and `ELU_OPERATOR_KEY` or the key kept in `ELU_DATA_DIR`."""
        host = os.environ.get("ELU_HOST", "127.0.0.1")
        host = "127.0.0.1" if host in _ANY_ADDRESS else host

        def url(setting: str, default: int) -> str:
            return f"http://{host}:{int(os.environ.get(setting, default))}"

        return cls(
            public_url=url("ELU_PUBLIC_API_PORT", 8000),
            private_url=url("ELU_PRIVATE_API_PORT", 8800),
            csms_v16_api=url("ELU_CSMS_V16_PORT", 9000),
            csms_v201_api=url("ELU_CSMS_V201_PORT", 9201),
            operator_key=os.environ.get("ELU_OPERATOR_KEY") or _kept_operator_key(),
        )


def _kept_operator_key() -> str:
    """The key `elu-twins up` generated in its data folder; a relative `ELU_DATA_DIR`
    (default `.elu`) is looked up here and in the repository root, since Jupyter runs a
    notebook in its own folder and `make up` runs in the root."""
    data_dir = Path(os.environ.get("ELU_DATA_DIR", ".elu"))
    candidates = [data_dir] if data_dir.is_absolute() else [data_dir, Path("..") / data_dir]
    for candidate in candidates:
        key_file = candidate / "operator_key"
        if key_file.exists():
            return key_file.read_text().strip()
    raise FileNotFoundError(
        f"No operator key in {' or '.join(str(c.resolve()) for c in candidates)}: start "
        "`make up` first, or set ELU_DATA_DIR (or ELU_OPERATOR_KEY) as it was started with"
    )


@dataclass(frozen=True)
class Session:
    """A charging session as the public API answers it: the transaction, its meter values
    (`GET /operations/charge_point/transaction/{id}/meter-values`) and the vehicle's
    charging curve (``[[soc %, kW], ...]``)."""

    title: str
    transaction: dict[str, Any]
    samples: list[dict[str, Any]]
    curve: list[list[float]]
    #: Charging limits the CSMS set during the session: (when, kW).
    limits: tuple[tuple[datetime, float], ...] = ()

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.transaction["start_time"])

    def minutes(self, when: datetime) -> float:
        """Simulated minutes from the start of the session to ``when``."""
        return (when - self.start).total_seconds() / 60


def plot_session(over_time: Axes, on_curve: Axes, session: Session) -> None:
    """Power and SoC over the session's simulated time on ``over_time``; each meter value
    on the vehicle's charging curve on ``on_curve``."""
    minutes = [session.minutes(datetime.fromisoformat(s["timestamp"])) for s in session.samples]
    power_kw = [s["power_w"] / 1000 for s in session.samples]
    socs = [s["soc"] for s in session.samples]

    over_time.plot(minutes, power_kw, color="tab:blue", marker=".", label="power")
    over_time.set_xlabel("time since the session started (simulated min)")
    over_time.set_ylabel("power (kW)", color="tab:blue")
    over_time.set_xlim(left=0)
    over_time.set_ylim(bottom=0, top=max(power_kw, default=1) * 1.15)
    over_time.set_title(session.title)
    over_time.grid(alpha=0.3)
    soc_axis = over_time.twinx()
    soc_axis.plot(minutes, socs, color="tab:orange", label="state of charge")
    soc_axis.set_ylabel("state of charge (%)", color="tab:orange")
    soc_axis.set_ylim(0, 100)
    handles = over_time.get_lines() + soc_axis.get_lines()
    for when, kw in session.limits:
        handles.append(
            over_time.axvline(
                session.minutes(when), color="tab:red", linestyle="--", label=f"{kw:g} kW limit set"
            )
        )
    over_time.legend(handles=handles, loc="lower left")

    on_curve.plot(
        [soc for soc, _ in session.curve],
        [kw for _, kw in session.curve],
        color="grey",
        label="charging curve",
    )
    on_curve.scatter(socs, power_kw, s=12, color="tab:blue", label="meter values", zorder=3)
    on_curve.set_xlabel("state of charge (%)")
    on_curve.set_ylabel("power (kW)")
    on_curve.set_xlim(0, 100)
    on_curve.set_ylim(bottom=0)
    on_curve.set_title("power against the vehicle's charging curve")
    on_curve.grid(alpha=0.3)
    on_curve.legend(loc="lower left")


def session_figure(sessions: list[Session]) -> Figure:
    """One row per session: power and SoC over time, then power against the curve."""
    figure, axes = plt.subplots(
        len(sessions),
        2,
        figsize=(11, 3.6 * len(sessions)),
        dpi=80,
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 2]},
        layout="constrained",
    )
    for session, (over_time, on_curve) in zip(sessions, axes, strict=True):
        plot_session(over_time, on_curve, session)
    return figure
