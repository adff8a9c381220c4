"""OCPP charging profiles and the composite schedule, for OCPP 1.6 and 2.0.1.

One normalised model serves both versions; ``from_ocpp16``/``from_ocpp201`` and
``to_ocpp16``/``to_ocpp201`` translate it to and from the wire (camelCase keys;
snake_case keys, as the ``ocpp`` library hands them to handlers, are accepted too).

How the limit in force is found (OCPP 1.6 §3.13, 2.0.1 K01/K08):

* Within one purpose the *leading* profile is the one with the highest stack level
  that is valid at that time and whose schedule has a period at that time; a
  higher level that is outside its validity window or past its duration does not
  shadow the lower ones.
* ``TxProfile`` (for the running transaction, on the connector) replaces
  ``TxDefaultProfile``; a ``TxDefaultProfile`` on the connector takes precedence
  over one on connector 0. TxDefaultProfiles also apply with no transaction, so a
  CSMS sees them in the composite schedule before charging starts.
* The limit is the minimum of that and the ``ChargePointMaxProfile`` (2.0.1:
  ``ChargingStationMaxProfile``) in force on connector 0. 2.0.1's
  ``ChargingStationExternalConstraints`` caps in the same way.

Where a schedule starts (the anchor):

* Absolute: ``startSchedule``; when missing, ``validFrom``, else the time given
  to :meth:`ChargingProfileStore.install`; with none of those, the transaction
  start, else the moment asked about (so the first period applies).
* Relative: the transaction start; with no transaction, the moment asked about.
* Recurring: ``startSchedule`` repeated every day/week, before it as well as
  after (``validFrom`` bounds it when wanted); when missing, as for Absolute,
  falling back to midnight UTC of a Monday. A missing or longer duration is cut
  to the recurrence period.

A limit in A becomes power as ``A * V * phases`` for AC, with phases the lesser
of the period's ``numberPhases`` (default 3) and the connector's phases, and as
``A * V`` for DC.

OCPP 2.1 periods may carry an ``operationMode`` (bidirectional power transfer):

* ``CentralSetpoint`` / ``ExternalSetpoint``: the vehicle follows ``setpoint``;
  a negative one discharges it (V2X), bounded by ``dischargeLimit`` (negative too),
  a positive one charges at most at it (and within ``limit``). :meth:`setpoint_kw`
  gives it; the composite schedule carries it.
* ``Idle``: no power either way (a limit of 0).
* ``ChargingOnly``, ``ExternalLimits`` and the rest: ``limit`` caps charging as in
  2.0.1 (frequency and local load balancing modes are not simulated).

Only the transaction's profiles (TxProfile, TxDefaultProfile) give setpoints. A
period without ``limit`` (allowed in 2.1 for these modes) does not cap charging.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

RateUnit = Literal["A", "W"]
CurrentType = Literal["AC", "DC"]

CHARGE_POINT_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX_PROFILE = "TxProfile"
EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
STATION_MAX_201 = "ChargingStationMaxProfile"

PURPOSES = frozenset({CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE, EXTERNAL_CONSTRAINTS})
KINDS = frozenset({"Absolute", "Recurring", "Relative"})
RECURRENCY_SECONDS = {"Daily": 86_400, "Weekly": 7 * 86_400}
#: Anchor of a Recurring profile that has no start at all: a Monday, 00:00 UTC.
_RECURRENCE_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
#: Purposes read from connector 0 that cap every connector.
_CAP_PURPOSES = (CHARGE_POINT_MAX, EXTERNAL_CONSTRAINTS)


#: 2.1 operation modes in which the vehicle follows ``setpoint``.
SETPOINT_MODES = frozenset({"CentralSetpoint", "ExternalSetpoint"})


@dataclass(frozen=True, slots=True)
class ChargingSchedulePeriod:
    """``limit`` is ``math.inf`` for a 2.1 period that has none."""

    start_period: int
    limit: float
    number_phases: int | None = None
    operation_mode: str | None = None
    setpoint: float | None = None
    discharge_limit: float | None = None


@dataclass(frozen=True)
class ChargingSchedule:
    charging_rate_unit: RateUnit
    periods: tuple[ChargingSchedulePeriod, ...]
    duration: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None
    id: int | None = None
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.charging_rate_unit not in ("A", "W"):
            raise ValueError(
                f"chargingRateUnit must be 'A' or 'W', got {self.charging_rate_unit!r}"
            )
        if not self.periods:
            raise ValueError("a charging schedule needs at least one period")
        starts = tuple(p.start_period for p in self.periods)
        if any(b <= a for a, b in pairwise(starts)):
            raise ValueError(f"startPeriod values must be strictly ascending, got {list(starts)}")
        if starts[0] < 0:
            raise ValueError("startPeriod must not be negative")
        if any(p.limit < 0 for p in self.periods):
            raise ValueError("a period limit must not be negative")
        if self.duration is not None and self.duration < 0:
            raise ValueError("duration must not be negative")
        if self.start_schedule is not None:
            object.__setattr__(self, "start_schedule", _utc(self.start_schedule))
        object.__setattr__(self, "_starts", starts)

    def period_at(self, offset: float) -> ChargingSchedulePeriod | None:
        """The period in force ``offset`` seconds after the schedule starts."""
        i = bisect_right(self._starts, offset) - 1
        return self.periods[i] if i >= 0 else None


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: str
    kind: str
    schedule: ChargingSchedule
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        if self.purpose == STATION_MAX_201:
            object.__setattr__(self, "purpose", CHARGE_POINT_MAX)
        if self.purpose not in PURPOSES:
            raise ValueError(f"unknown chargingProfilePurpose {self.purpose!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown chargingProfileKind {self.kind!r}")
        if self.kind == "Recurring" and self.recurrency not in RECURRENCY_SECONDS:
            raise ValueError(
                f"a Recurring profile needs recurrencyKind Daily or Weekly, got {self.recurrency!r}"
            )
        if self.recurrency is not None and self.recurrency not in RECURRENCY_SECONDS:
            raise ValueError(f"unknown recurrencyKind {self.recurrency!r}")
        if self.stack_level < 0:
            raise ValueError("stackLevel must not be negative")
        for name in ("valid_from", "valid_to"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value))
        if self.transaction_id is not None:
            object.__setattr__(self, "transaction_id", str(self.transaction_id))

    # -- wire formats -------------------------------------------------------------

    @classmethod
    def from_ocpp16(cls, payload: Mapping[str, Any]) -> ChargingProfile:
        """From OCPP 1.6 ``csChargingProfiles`` (or RemoteStart's ``chargingProfile``)."""
        p = _Keys(payload)
        tx = p.get("transactionId")
        return cls(
            id=int(p.req("chargingProfileId")),
            stack_level=int(p.req("stackLevel")),
            purpose=p.req("chargingProfilePurpose"),
            kind=p.req("chargingProfileKind"),
            schedule=_schedule_from_wire(p.req("chargingSchedule"), start_key="startSchedule"),
            recurrency=p.get("recurrencyKind"),
            valid_from=_parse_time(p.get("validFrom")),
            valid_to=_parse_time(p.get("validTo")),
            transaction_id=None if tx is None else str(tx),
        )

    @classmethod
    def from_ocpp201(cls, payload: Mapping[str, Any]) -> ChargingProfile:
        """From an OCPP 2.0.1 ``chargingProfile``; only its first schedule is kept."""
        p = _Keys(payload)
        schedules = p.req("chargingSchedule")
        if isinstance(schedules, Mapping):
            schedules = [schedules]
        if not schedules:
            raise ValueError("chargingSchedule must hold at least one schedule")
        return cls(
            id=int(p.req("id")),
            stack_level=int(p.req("stackLevel")),
            purpose=p.req("chargingProfilePurpose"),
            kind=p.req("chargingProfileKind"),
            schedule=_schedule_from_wire(schedules[0], start_key="startSchedule"),
            recurrency=p.get("recurrencyKind"),
            valid_from=_parse_time(p.get("validFrom")),
            valid_to=_parse_time(p.get("validTo")),
            transaction_id=p.get("transactionId"),
        )

    def to_ocpp16(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chargingProfileId": self.id,
            "stackLevel": self.stack_level,
            "chargingProfilePurpose": self.purpose,
            "chargingProfileKind": self.kind,
        }
        if self.transaction_id is not None:
            tx = self.transaction_id
            out["transactionId"] = int(tx) if re.fullmatch(r"-?\d+", tx) else tx
        self._put_common(out)
        out["chargingSchedule"] = _schedule_to_wire(self.schedule, with_id=False)
        return out

    def to_ocpp201(self) -> dict[str, Any]:
        purpose = STATION_MAX_201 if self.purpose == CHARGE_POINT_MAX else self.purpose
        out: dict[str, Any] = {
            "id": self.id,
            "stackLevel": self.stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": self.kind,
        }
        if self.transaction_id is not None:
            out["transactionId"] = self.transaction_id
        self._put_common(out)
        schedule = _schedule_to_wire(self.schedule, with_id=True)
        schedule.setdefault("id", self.id)
        out["chargingSchedule"] = [schedule]
        return out

    def _put_common(self, out: dict[str, Any]) -> None:
        if self.recurrency is not None:
            out["recurrencyKind"] = self.recurrency
        if self.valid_from is not None:
            out["validFrom"] = format_time(self.valid_from)
        if self.valid_to is not None:
            out["validTo"] = format_time(self.valid_to)


@dataclass(frozen=True)
class CompositeSchedule:
    """The schedule a connector will follow; ``periods`` are relative to ``start``."""

    start: datetime
    duration: int
    charging_rate_unit: RateUnit
    periods: tuple[ChargingSchedulePeriod, ...]

    def to_ocpp16(self) -> dict[str, Any]:
        """The ``chargingSchedule`` of a 1.6 GetCompositeSchedule.conf."""
        return {
            "duration": self.duration,
            "startSchedule": format_time(self.start),
            "chargingRateUnit": self.charging_rate_unit,
            "chargingSchedulePeriod": [_period_to_wire(p) for p in self.periods],
        }

    def to_ocpp201(self, evse_id: int) -> dict[str, Any]:
        """The ``schedule`` (CompositeScheduleType) of a 2.0.1 GetCompositeScheduleResponse."""
        return {
            "evseId": evse_id,
            "duration": self.duration,
            "scheduleStart": format_time(self.start),
            "chargingRateUnit": self.charging_rate_unit,
            "chargingSchedulePeriod": [_period_to_wire(p) for p in self.periods],
        }


# -- the store --------------------------------------------------------------------


@dataclass(slots=True)
class _Installed:
    connector_id: int
    profile: ChargingProfile
    anchor: datetime | None  # where an Absolute/Recurring schedule starts, when known


class ChargingProfileStore:
    """The charging profiles installed on one charge point, by connector.

    Profiles are kept per ``(connector_id, purpose)``, sorted by descending stack
    level, so finding the limit touches a handful of short lists and allocates
    nothing; with no profile installed it returns at once.
    """

    __slots__ = ("_by_key", "_count", "revision")

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, str], list[_Installed]] = {}
        self._count = 0
        #: Moves with every install and removal, so that a change is cheap to notice.
        self.revision = 0

    def __len__(self) -> int:
        return self._count

    def install(
        self, connector_id: int, profile: ChargingProfile, *, installed_at: datetime | None = None
    ) -> None:
        """Install ``profile`` on ``connector_id`` (0 = the whole charge point).

        Replaces a profile with the same id on any connector, and one with the same
        stack level and purpose on the same connector (the OCPP 1.6 rule).
        ``installed_at`` anchors an Absolute profile that has neither
        ``startSchedule`` nor ``validFrom``. Raises ``ValueError`` for what the
        specification says to reject (a TxProfile on connector 0, a
        ChargePointMaxProfile on a connector).
        """
        reason = self.rejection_reason(connector_id, profile)
        if reason:
            raise ValueError(reason)
        self._remove(lambda e: e.profile.id == profile.id)
        self._remove(
            lambda e: (
                e.connector_id == connector_id
                and e.profile.purpose == profile.purpose
                and e.profile.stack_level == profile.stack_level
            )
        )
        schedule = profile.schedule
        anchor = schedule.start_schedule or profile.valid_from
        if anchor is None and installed_at is not None:
            anchor = _utc(installed_at)
        entries = self._by_key.setdefault((connector_id, profile.purpose), [])
        entries.append(_Installed(connector_id, profile, anchor))
        entries.sort(key=lambda e: -e.profile.stack_level)
        self._count += 1
        self.revision += 1

    @staticmethod
    def rejection_reason(connector_id: int, profile: ChargingProfile) -> str | None:
        """Why ``install`` would refuse this profile, or None when it is acceptable."""
        if connector_id < 0:
            return f"connector id {connector_id} is negative"
        if profile.purpose == TX_PROFILE and connector_id == 0:
            return "a TxProfile must be set on a connector, not on connector 0"
        if profile.purpose in _CAP_PURPOSES and connector_id != 0:
            return f"a {profile.purpose} must be set on connector 0"
        return None

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove profiles and return how many went.

        With ``profile_id`` only that profile is removed and the other criteria are
        ignored (both specifications: clear either one profile by id or a
        selection); otherwise every profile matching all given criteria goes.
        """
        if profile_id is not None:
            return self._remove(lambda e: e.profile.id == profile_id)
        if purpose == STATION_MAX_201:
            purpose = CHARGE_POINT_MAX
        return self._remove(
            lambda e: (
                (connector_id is None or e.connector_id == connector_id)
                and (purpose is None or e.profile.purpose == purpose)
                and (stack_level is None or e.profile.stack_level == stack_level)
            )
        )

    def clear_transaction_profiles(self, connector_id: int) -> None:
        """Drop the TxProfiles of ``connector_id``; they end with their transaction."""
        if self._by_key.get((connector_id, TX_PROFILE)):
            self._remove(
                lambda e: e.connector_id == connector_id and e.profile.purpose == TX_PROFILE
            )

    def profiles(self, connector_id: int | None = None) -> list[tuple[int, ChargingProfile]]:
        """Installed ``(connector_id, profile)`` pairs, by connector, purpose, stack level."""
        found = [
            (e.connector_id, e.profile)
            for (cid, _), entries in self._by_key.items()
            if connector_id is None or cid == connector_id
            for e in entries
        ]
        found.sort(key=lambda cp: (cp[0], cp[1].purpose, -cp[1].stack_level, cp[1].id))
        return found

    def save_state(self) -> list[dict[str, Any]]:
        """Every installed profile as plain data (the 2.0.1 wire form, which holds
        every field), with its connector and anchor."""
        return [
            {
                "connector_id": e.connector_id,
                "profile": e.profile.to_ocpp201(),
                "anchor": format_time(e.anchor) if e.anchor is not None else None,
            }
            for entries in self._by_key.values()
            for e in reversed(entries)
        ]

    def restore_state(self, data: list[dict[str, Any]]) -> None:
        self._by_key.clear()
        self._count = 0
        for item in data:
            profile = ChargingProfile.from_ocpp201(item["profile"])
            anchor = _parse_time(item.get("anchor"))
            entries = self._by_key.setdefault((item["connector_id"], profile.purpose), [])
            entries.append(_Installed(item["connector_id"], profile, anchor))
            entries.sort(key=lambda e: -e.profile.stack_level)
            self._count += 1

    def _remove(self, predicate: Any) -> int:
        removed = 0
        for key in list(self._by_key):
            entries = self._by_key[key]
            kept = [e for e in entries if not predicate(e)]
            if len(kept) != len(entries):
                removed += len(entries) - len(kept)
                if kept:
                    self._by_key[key] = kept
                else:
                    del self._by_key[key]
        self._count -= removed
        if removed:
            self.revision += 1
        return removed

    # -- evaluation ---------------------------------------------------------------

    def limit_kw(
        self,
        connector_id: int,
        at: datetime,
        *,
        transaction_id: str | None,
        transaction_start: datetime | None,
        voltage: float,
        phases: int,
        current_type: CurrentType,
    ) -> float | None:
        """The power limit (kW) in force on ``connector_id`` at ``at``; None when unlimited."""
        if not self._count:
            return None
        watts = self._limit_w(
            connector_id, at, at, transaction_id, transaction_start, voltage, phases, current_type
        )
        return None if watts is None else watts / 1000.0

    def setpoint_kw(
        self,
        connector_id: int,
        at: datetime,
        *,
        transaction_id: str | None,
        transaction_start: datetime | None,
        voltage: float,
        phases: int,
        current_type: CurrentType,
    ) -> float | None:
        """The 2.1 setpoint (kW, negative: discharge) in force on ``connector_id`` at
        ``at``, within its period's limits; None when no period in force asks for one."""
        if not self._count or connector_id == 0:
            return None
        watts = self._setpoint_w(
            connector_id, at, at, transaction_id, transaction_start, voltage, phases, current_type
        )
        return None if watts is None else watts / 1000.0

    def _setpoint_w(
        self,
        connector_id: int,
        at: datetime,
        asked_at: datetime,
        transaction_id: str | None,
        transaction_start: datetime | None,
        voltage: float,
        phases: int,
        current_type: CurrentType,
    ) -> float | None:
        """The setpoint (W) of the transaction's leading profile at ``at``."""
        found = self._transaction_period(
            connector_id, at, asked_at, transaction_id, transaction_start
        )
        if found is None:
            return None
        period, unit = found
        if period.operation_mode not in SETPOINT_MODES or period.setpoint is None:
            return None
        electrics = (unit, voltage, phases, current_type)
        watts = _to_watts(period, *electrics, value=period.setpoint)
        if watts < 0 and period.discharge_limit is not None:
            watts = max(watts, _to_watts(period, *electrics, value=period.discharge_limit))
        if watts > 0:
            limit = self._limit_w(
                connector_id, at, asked_at, transaction_id, transaction_start, *electrics[1:]
            )
            if limit is not None:
                watts = min(watts, limit)
        return watts

    def _limit_w(
        self,
        connector_id: int,
        at: datetime,
        asked_at: datetime,
        transaction_id: str | None,
        transaction_start: datetime | None,
        voltage: float,
        phases: int,
        current_type: CurrentType,
    ) -> float | None:
        """Limit in W at ``at``; ``asked_at`` anchors schedules that have no start."""
        by_key = self._by_key
        args = (at, asked_at, transaction_start, voltage, phases, current_type)
        limit: float | None = None
        for purpose in _CAP_PURPOSES:
            entries = by_key.get((0, purpose))
            if entries:
                w = _leading(entries, *args)
                if w is not None:
                    limit = w if limit is None else min(limit, w)
        if connector_id == 0:
            return limit
        found = self._transaction_period(
            connector_id, at, asked_at, transaction_id, transaction_start
        )
        if found is None:
            return limit
        tx_limit = _to_watts(found[0], found[1], voltage, phases, current_type)
        return tx_limit if limit is None else min(limit, tx_limit)

    def _transaction_period(
        self,
        connector_id: int,
        at: datetime,
        asked_at: datetime,
        transaction_id: str | None,
        transaction_start: datetime | None,
    ) -> tuple[ChargingSchedulePeriod, RateUnit] | None:
        """The period in force at ``at`` that leads a connector's session: the
        transaction's TxProfile while one runs, else the connector's TxDefaultProfile,
        else the charge point's (connector 0)."""
        by_key = self._by_key
        if transaction_id is not None or transaction_start is not None:
            entries = by_key.get((connector_id, TX_PROFILE))
            if entries:
                found = _leading_period(entries, at, asked_at, transaction_start, transaction_id)
                if found is not None:
                    return found
        for cid in (connector_id, 0):
            entries = by_key.get((cid, TX_DEFAULT))
            if entries:
                found = _leading_period(entries, at, asked_at, transaction_start)
                if found is not None:
                    return found
        return None

    def composite_schedule(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        *,
        unit: RateUnit | None,
        transaction_id: str | None,
        transaction_start: datetime | None,
        voltage: float,
        phases: int,
        current_type: CurrentType,
        connector_max_kw: float | None = None,
    ) -> CompositeSchedule:
        """The limits ``connector_id`` will follow from ``start`` for ``duration`` seconds.

        Limits are capped by ``connector_max_kw``; time no profile covers gets
        ``connector_max_kw`` (without it, the highest limit found in the window).
        ``unit`` None picks A when every relevant profile is in A, else W. Limits
        are rounded to 0.1 (the wire's ``multipleOf``) and equal neighbours merged.
        Connector 0 reports the charge point's cap profiles only.
        """
        start = _utc(start)
        end = start + timedelta(seconds=duration)
        relevant = list(self._relevant(connector_id, transaction_id))
        if unit is None:
            all_amps = relevant and all(
                e.profile.schedule.charging_rate_unit == "A" for e in relevant
            )
            unit = "A" if all_amps else "W"
        times = {start}
        for entry in relevant:
            for t in _breakpoints(entry, start, end, transaction_start):
                if start < t < end:
                    times.add(t)
        cap_w = None if connector_max_kw is None else connector_max_kw * 1000.0
        samples: list[tuple[int, float | None, float | None]] = []
        for t in sorted(times):
            args = (t, start, transaction_id, transaction_start, voltage, phases, current_type)
            w = self._limit_w(connector_id, *args)
            setpoint = self._setpoint_w(connector_id, *args) if connector_id else None
            if w is not None and cap_w is not None:
                w = min(w, cap_w)
            if setpoint is not None and cap_w is not None:
                setpoint = min(max(setpoint, -cap_w), cap_w)
            offset = round((t - start).total_seconds())
            if samples and samples[-1][0] == offset:
                samples[-1] = (offset, w, setpoint)
            else:
                samples.append((offset, w, setpoint))
        fill = cap_w
        if fill is None:
            found = [w for _, w, _ in samples if w is not None and math.isfinite(w)]
            if not found:
                return CompositeSchedule(start, duration, unit, ())
            fill = max(found)
        per_watt = _amps_per_watt(voltage, phases, current_type) if unit == "A" else 1.0
        periods: list[ChargingSchedulePeriod] = []
        for offset, w, setpoint in samples:
            limit = round(min(fill if w is None else w, fill) * per_watt, 1)
            period = ChargingSchedulePeriod(offset, limit)
            if setpoint is not None:
                period = ChargingSchedulePeriod(
                    offset,
                    limit,
                    operation_mode="CentralSetpoint",
                    setpoint=round(setpoint * per_watt, 1),
                )
            if periods and (periods[-1].limit, periods[-1].setpoint) == (limit, period.setpoint):
                continue
            periods.append(period)
        return CompositeSchedule(start, duration, unit, tuple(periods))

    def _relevant(self, connector_id: int, transaction_id: str | None) -> Iterator[_Installed]:
        keys: list[tuple[int, str]] = [(0, p) for p in _CAP_PURPOSES]
        if connector_id != 0:
            keys += [(connector_id, TX_PROFILE), (connector_id, TX_DEFAULT), (0, TX_DEFAULT)]
        for key in keys:
            for entry in self._by_key.get(key, ()):
                if (
                    key[1] == TX_PROFILE
                    and entry.profile.transaction_id is not None
                    and entry.profile.transaction_id != transaction_id
                ):
                    continue
                yield entry


# -- evaluation helpers ----------------------------------------------------------


def _leading(
    entries: list[_Installed],
    at: datetime,
    asked_at: datetime,
    transaction_start: datetime | None,
    voltage: float,
    phases: int,
    current_type: CurrentType,
) -> float | None:
    """Limit (W) of the highest-stack-level entry that has a period in force at ``at``."""
    found = _leading_period(entries, at, asked_at, transaction_start)
    if found is None:
        return None
    period, unit = found
    return _to_watts(period, unit, voltage, phases, current_type)


def _leading_period(
    entries: list[_Installed],
    at: datetime,
    asked_at: datetime,
    transaction_start: datetime | None,
    transaction_id: str | None = None,
) -> tuple[ChargingSchedulePeriod, RateUnit] | None:
    """The period in force at ``at`` of the highest-stack-level entry that has one,
    with its schedule's unit."""
    for entry in entries:
        profile = entry.profile
        if transaction_id is not None and profile.transaction_id not in (None, transaction_id):
            continue
        if profile.valid_from is not None and at < profile.valid_from:
            continue
        if profile.valid_to is not None and at >= profile.valid_to:
            continue
        anchor = _anchor(entry, asked_at, transaction_start)
        period = _period_in_force(profile, anchor, at)
        if period is not None:
            return period, profile.schedule.charging_rate_unit
    return None


def _anchor(entry: _Installed, asked_at: datetime, transaction_start: datetime | None) -> datetime:
    kind = entry.profile.kind
    if kind == "Relative":
        return transaction_start or asked_at
    if entry.anchor is not None:
        return entry.anchor
    if kind == "Recurring":
        return _RECURRENCE_EPOCH
    return transaction_start or asked_at


def _period_in_force(
    profile: ChargingProfile, anchor: datetime, at: datetime
) -> ChargingSchedulePeriod | None:
    schedule = profile.schedule
    offset = (at - anchor).total_seconds()
    duration = schedule.duration
    if profile.kind == "Recurring":
        cycle = RECURRENCY_SECONDS[profile.recurrency or "Daily"]
        offset %= cycle
        duration = cycle if duration is None else min(duration, cycle)
    elif offset < 0:
        return None
    if duration is not None and offset >= duration:
        return None
    return schedule.period_at(offset)


def _breakpoints(
    entry: _Installed, start: datetime, end: datetime, transaction_start: datetime | None
) -> Iterator[datetime]:
    """Instants in or around [start, end) where this entry's contribution may change."""
    profile = entry.profile
    schedule = profile.schedule
    if profile.valid_from is not None:
        yield profile.valid_from
    if profile.valid_to is not None:
        yield profile.valid_to
    anchor = _anchor(entry, start, transaction_start)
    offsets = [p.start_period for p in schedule.periods]
    if profile.kind == "Recurring":
        cycle = RECURRENCY_SECONDS[profile.recurrency or "Daily"]
        if schedule.duration is not None and schedule.duration < cycle:
            offsets.append(schedule.duration)
        first = math.floor((start - anchor).total_seconds() / cycle)
        last = math.floor((end - anchor).total_seconds() / cycle)
        for k in range(first, last + 1):
            base = anchor + timedelta(seconds=k * cycle)
            for offset in offsets:
                yield base + timedelta(seconds=offset)
        return
    if schedule.duration is not None:
        offsets.append(schedule.duration)
    for offset in offsets:
        yield anchor + timedelta(seconds=offset)


def _to_watts(
    period: ChargingSchedulePeriod,
    unit: RateUnit,
    voltage: float,
    phases: int,
    current_type: CurrentType,
    value: float | None = None,
) -> float:
    """``value`` (default: the period's limit; 0 in Idle mode) in W."""
    if value is None:
        value = 0.0 if period.operation_mode == "Idle" else period.limit
    if unit == "W":
        return value
    if current_type == "DC":
        return value * voltage
    return value * voltage * min(period.number_phases or 3, phases)


def _amps_per_watt(voltage: float, phases: int, current_type: CurrentType) -> float:
    return 1.0 / (voltage if current_type == "DC" else voltage * phases)


# -- wire helpers ----------------------------------------------------------------


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as OCPP messages carry time (``_utc`` inlined: one
    call a meter value)."""
    tz = when.tzinfo
    if tz is UTC:  # the twins' clocks give UTC: no conversion
        return when.isoformat().replace("+00:00", "Z")
    utc = when.replace(tzinfo=UTC) if tz is None else when.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    try:
        return _utc(datetime.fromisoformat(str(value)))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class _Keys:
    """Reads a wire dict by its camelCase key, falling back to the snake_case one."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any]) -> None:
        if not isinstance(d, Mapping):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        self._d = d

    def get(self, camel: str) -> Any:
        if camel in self._d:
            return self._d[camel]
        return self._d.get(_CAMEL.sub("_", camel).lower())

    def req(self, camel: str) -> Any:
        value = self.get(camel)
        if value is None:
            raise ValueError(f"{camel} is required")
        return value


def _schedule_from_wire(payload: Mapping[str, Any], *, start_key: str) -> ChargingSchedule:
    s = _Keys(payload)
    periods = tuple(_period_from_wire(_Keys(item)) for item in s.req("chargingSchedulePeriod"))
    duration = s.get("duration")
    min_rate = s.get("minChargingRate")
    schedule_id = s.get("id")
    return ChargingSchedule(
        charging_rate_unit=s.req("chargingRateUnit"),
        periods=periods,
        duration=None if duration is None else int(duration),
        start_schedule=_parse_time(s.get(start_key)),
        min_charging_rate=None if min_rate is None else float(min_rate),
        id=None if schedule_id is None else int(schedule_id),
    )


def _period_from_wire(q: _Keys) -> ChargingSchedulePeriod:
    mode = q.get("operationMode")
    limit = q.get("limit")
    if limit is None and mode in (None, "ChargingOnly"):
        q.req("limit")  # raises: only 2.1's other modes may leave it out
    setpoint, discharge = q.get("setpoint"), q.get("dischargeLimit")
    if mode in SETPOINT_MODES and setpoint is None:
        raise ValueError(f"operationMode {mode} needs a setpoint")
    if discharge is not None and float(discharge) > 0:
        raise ValueError("dischargeLimit must not be positive")
    return ChargingSchedulePeriod(
        start_period=int(q.req("startPeriod")),
        limit=math.inf if limit is None else float(limit),
        number_phases=None if q.get("numberPhases") is None else int(q.get("numberPhases")),
        operation_mode=None if mode is None else str(mode),
        setpoint=None if setpoint is None else float(setpoint),
        discharge_limit=None if discharge is None else float(discharge),
    )


def _period_to_wire(period: ChargingSchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": period.start_period}
    if math.isfinite(period.limit):
        out["limit"] = period.limit
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    if period.operation_mode is not None:
        out["operationMode"] = period.operation_mode
    if period.setpoint is not None:
        out["setpoint"] = period.setpoint
    if period.discharge_limit is not None:
        out["dischargeLimit"] = period.discharge_limit
    return out


def _schedule_to_wire(schedule: ChargingSchedule, *, with_id: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_id and schedule.id is not None:
        out["id"] = schedule.id
    if schedule.start_schedule is not None:
        out["startSchedule"] = format_time(schedule.start_schedule)
    if schedule.duration is not None:
        out["duration"] = schedule.duration
    out["chargingRateUnit"] = schedule.charging_rate_unit
    out["chargingSchedulePeriod"] = [_period_to_wire(p) for p in schedule.periods]
    if schedule.min_charging_rate is not None:
        out["minChargingRate"] = schedule.min_charging_rate
    return out
