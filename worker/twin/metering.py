"""Electrics and metering: the power drawn, the energy integrated, the samples taken.

:class:`MeteringMixin` is the part of :class:`~worker.twin.charge_point.ChargePointTwin`
that integrates energy with the vehicle's exact ``charge()`` from the last step to
now (at every meter sample and before every change that moves the limit or the
state), computes the limit (vehicle curve, connector, charging profiles), and
queues the periodic MeterValues.

A negative 2.1 setpoint (see :mod:`worker.twin.smart_charging`) makes a
bidirectional vehicle discharge: the power is negative, at most the setpoint, the
vehicle's maximum discharge power and the charger's rating, until the vehicle's
minimum SoC; what it gives back counts in the connector's export register.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta

from worker.twin.config import CurrentType
from worker.twin.events import MeterSampled
from worker.twin.model import ConnectorState, QueuedMessage, Transaction
from worker.twin.smart_charging import ChargingSchedulePeriod
from worker.twin.values import MeterSample

#: How far ahead (s) the twin looks for the next change of a charging schedule.
LIMIT_HORIZON = 3600
#: Wh short of MaxEnergyOnInvalidId that counts as reached (the timer wakes on time,
#: the integration steps are not cut at the cap).
CAP_TOLERANCE_WH = 0.5


class MeteringMixin:
    """Electrics and metering of :class:`~worker.twin.charge_point.ChargePointTwin`."""

    __slots__ = ()

    # == electrics and metering ====================================================

    def _electrics(self, current_type: CurrentType) -> tuple[float, int, float]:
        """(voltage, phases, maximum kW) for connectors of this current type."""
        config = self.config
        if current_type == "DC":
            return config.voltage_dc, 1, config.maximum_dc_power
        return config.voltage_ac, config.phases_ac, config.maximum_ac_power

    def _at(self, monotonic: float) -> datetime:
        """The clock time of a monotonic reading, so that a sample's timestamp and
        the energy integrated up to it are the same instant."""
        return self._epoch + timedelta(0, monotonic)  # (days, seconds): no keyword to parse

    def _integrate(self, connector: ConnectorState) -> None:
        """Add the energy drawn since the last step.

        Without charging profiles the limit is the one computed at the last step.
        With profiles, the step is cut where the composite schedule changes, so a
        schedule period that begins between two samples counts from its start.
        """
        now = self.clock.monotonic()
        start = connector.integrated_at
        elapsed = now - start
        connector.integrated_at = now
        tx = connector.transaction
        vehicle = connector.vehicle
        if tx is None or vehicle is None or elapsed <= 0:
            return
        if connector.error_code is not None or self._cp_fault is not None or tx.suspended_by_csms:
            return
        current_type = connector.current_type
        if len(self.profiles):
            kwh = exported = 0.0
            rating = self._electrics(current_type)[2]
            for seconds, limit_kw, setpoint_kw in self._limit_pieces(connector, tx, start, elapsed):
                if setpoint_kw is not None and setpoint_kw < 0:
                    exported += vehicle.discharge(seconds, min(-setpoint_kw, rating))
                elif setpoint_kw is not None:
                    kwh += vehicle.charge(seconds, min(limit_kw, setpoint_kw), current_type)
                else:
                    kwh += vehicle.charge(seconds, limit_kw, current_type)
            connector.export_wh += exported * 1000.0
        elif connector.limit_kw > 0:
            kwh = vehicle.charge(elapsed, connector.limit_kw, current_type)
        else:
            return
        connector.register_wh += kwh * 1000.0
        tx.energy_wh += kwh * 1000.0

    def _schedule(
        self, connector: ConnectorState, tx: Transaction, start: float, duration: int
    ) -> tuple[ChargingSchedulePeriod, ...]:
        """The composite schedule's periods (W) for the transaction from ``start``
        (monotonic) for ``duration`` seconds."""
        voltage, phases, max_kw = self._electrics(connector.current_type)
        return self.profiles.composite_schedule(
            connector.connector_id,
            self._at(start),
            duration,
            unit="W",
            transaction_id=tx.csms_transaction_id,
            transaction_start=tx.start_time,
            voltage=voltage,
            phases=phases,
            current_type=connector.current_type,
            connector_max_kw=max_kw,
        ).periods

    def _limit_pieces(
        self, connector: ConnectorState, tx: Transaction, start: float, elapsed: float
    ) -> list[tuple[float, float, float | None]]:
        """(seconds, limit kW, setpoint kW or None) pieces of the composite schedule
        from ``start`` for ``elapsed`` seconds."""
        periods = self._schedule(connector, tx, start, math.ceil(elapsed))
        if not periods:
            return [(elapsed, connector.limit_kw, None)]
        pieces = []
        for index, period in enumerate(periods):
            begin = min(float(period.start_period), elapsed)
            end = elapsed
            if index + 1 < len(periods):
                end = min(float(periods[index + 1].start_period), elapsed)
            if end > begin:
                setpoint = None if period.setpoint is None else period.setpoint / 1000.0
                pieces.append((end - begin, period.limit / 1000.0, setpoint))
        return pieces

    def _integrate_all(self) -> None:
        for connector in self._connectors.values():
            self._integrate(connector)

    def _refresh(self, connector: ConnectorState) -> None:
        """Recompute the limit, power and status after a change, and publish."""
        tx = connector.transaction
        vehicle = connector.vehicle
        if tx is None or vehicle is None:
            connector.limit_kw = connector.power_kw = connector.current_a = 0.0
            connector.limit_due = None
            if tx is not None:  # a transaction kept while the vehicle is unplugged
                tx.status = "SuspendedEV"
            if vehicle is not None:  # a session ended (or never began): still plugged in
                self._set_vehicle_status(connector, "full" if vehicle.is_full else "plugged-in")
            self._publish(connector)
            return
        if (
            tx.invalid_id
            and tx.energy_wh >= self._energy_cap() - CAP_TOLERANCE_WH
            and self._energy_cap_reached(connector, tx)
        ):
            return
        current_type = connector.current_type
        voltage, phases, max_kw = self._electrics_by_type[current_type]
        profiled = len(self.profiles) > 0
        due = self._next_limit_change(connector, tx) if profiled else None
        limit = max_kw
        setpoint = None
        if profiled:
            electrics = {
                "transaction_id": tx.csms_transaction_id,
                "transaction_start": tx.start_time,
                "voltage": voltage,
                "phases": phases,
                "current_type": current_type,
            }
            smart = self.profiles.limit_kw(connector.connector_id, self.now(), **electrics)
            if smart is not None:
                limit = min(limit, smart)
            setpoint = self.profiles.setpoint_kw(connector.connector_id, self.now(), **electrics)
        halted = (
            connector.error_code is not None or self._cp_fault is not None or tx.suspended_by_csms
        )
        if halted:
            limit = 0.0
        connector.limit_kw = 0.0 if limit < 0.0 else limit  # max(limit, 0.0), one call less
        discharging = False
        if setpoint is not None and setpoint < 0 and not halted:
            # The EV follows the setpoint as far as it and the charger can.
            discharging = True
            wanted = vehicle.max_discharge_power_kw()
            power = -min(-setpoint, wanted, max_kw)
        else:
            if setpoint is not None and not halted:
                connector.limit_kw = min(connector.limit_kw, max(setpoint, 0.0))
            wanted = vehicle.max_power_kw(current_type)
            power = wanted if wanted < connector.limit_kw else connector.limit_kw
        connector.power_kw = power
        cap_due = self._energy_cap_due(tx, power)
        if cap_due is not None and (due is None or cap_due < due):
            due = cap_due
        if due != connector.limit_due:
            connector.limit_due = due
            self._reschedule()
        if power == 0:
            connector.current_a = 0.0
        elif current_type == "DC":
            connector.current_a = power * 1000.0 / voltage
        else:
            connector.current_a = power * 1000.0 / (voltage * phases)
        if discharging:
            # Energy flows either way in Charging (OCPP has no discharging state).
            tx.status = "Charging" if power < 0 else "SuspendedEV"
        elif connector.limit_kw <= 0:
            tx.status = "SuspendedEVSE"
        elif wanted <= 0:
            tx.status = "SuspendedEV"
        else:
            tx.status = "Charging"
        if power < 0:
            vehicle_status = "discharging"
        elif vehicle.is_full:
            vehicle_status = "full"
        else:
            vehicle_status = "charging" if power > 0 else "plugged-in"
        self._set_vehicle_status(connector, vehicle_status)
        self._publish(connector)

    def _next_limit_change(self, connector: ConnectorState, tx: Transaction) -> float | None:
        """When (monotonic) the composite schedule next changes within the hour."""
        now = self.clock.monotonic()
        periods = self._schedule(connector, tx, now, LIMIT_HORIZON)
        for period in periods[1:]:
            if period.start_period > 0:
                return now + period.start_period
        return None

    def _refresh_all(self) -> None:
        for connector in self._connectors.values():
            self._refresh(connector)

    def _sample(self, connector: ConnectorState, context: str) -> MeterSample:
        current_type = connector.current_type
        voltage, phases, _ = self._electrics_by_type[current_type]
        vehicle = connector.vehicle
        return MeterSample(
            at=self._at(connector.integrated_at),
            connector_id=connector.connector_id,
            energy_wh=connector.register_wh,
            power_w=connector.power_kw * 1000.0,
            current_a=connector.current_a,
            voltage_v=voltage,
            soc=vehicle.soc if vehicle is not None else None,
            phases=phases if current_type == "AC" else 1,
            context=context,
            export_wh=connector.export_wh
            if connector.export_wh or (vehicle is not None and vehicle.bidirectional)
            else None,
        )

    def _meter(self) -> None:
        """A sample interval is due: integrate, sample, queue MeterValues."""
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is None:
                continue
            self._integrate(connector)
            self._refresh(connector)
            sample = self._sample(connector, "Sample.Periodic")
            self.queue.put(QueuedMessage("meter", tx, sample=sample))
            self.sink(
                MeterSampled(
                    self.config.charge_point_id,
                    sample.at,
                    connector.evse_id,
                    connector.connector_id,
                    tx.ref,
                    sample.energy_wh,
                    sample.power_w,
                    sample.current_a,
                    sample.voltage_v,
                    sample.soc,
                )
            )
            self._emit_transaction(tx)

    # == samples for the transaction's end (2.0.1 TxEndedInterval) ==================

    def _ended_interval_since(self) -> datetime:
        interval = self.adapter.settings.tx_ended_interval
        if self._ended_interval is None or self._ended_interval[0] != interval:
            self._ended_interval = (interval, self.now())
        return self._ended_interval[1]

    def _ended_sample_due(self, tx: Transaction, interval: int) -> datetime:
        """The next point of the grid ``start + k * interval`` after the last sample (or
        after the interval came into force)."""
        last = tx.interval_samples[-1].at if tx.interval_samples else tx.start_time
        last = max(last, self._ended_interval_since())
        taken = (last - tx.start_time).total_seconds()
        return tx.start_time + timedelta(seconds=(math.floor(taken / interval) + 1) * interval)

    def _next_ended_sample(self) -> float | None:
        """When (monotonic) a transaction next takes a TxEndedInterval sample."""
        interval = self.adapter.settings.tx_ended_interval
        if interval <= 0:
            # What _ended_interval_since would record, without its call (1.6 twins
            # have no TxEndedInterval: every wake-up came here): an interval set
            # later counts from then.
            self._ended_interval = None
            return None
        self._ended_interval_since()
        dues = [
            self._ended_sample_due(c.transaction, interval)
            for c in self._connectors.values()
            if c.transaction is not None
        ]
        if not dues:
            return None
        return (min(dues) - self._epoch).total_seconds()

    def _take_ended_samples(self) -> None:
        interval = self.adapter.settings.tx_ended_interval
        if interval <= 0:
            return
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is None:
                continue
            self._integrate(connector)
            if self._ended_sample_due(tx, interval) <= self._at(connector.integrated_at):
                self._refresh(connector)
                tx.interval_samples.append(self._sample(connector, "Sample.Periodic"))
                self.mark_progressed()

    # == MaxEnergyOnInvalidId ===========================================================

    def _energy_cap(self) -> float:
        """MaxEnergyOnInvalidId as in force now (a change applies at once)."""
        return float(self.adapter.settings.max_energy_on_invalid_id)

    def _energy_caps_changed(self) -> None:
        """After a configuration change: transactions on an invalid id tag re-plan."""
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is not None and tx.invalid_id:
                self._integrate(connector)
                self._refresh(connector)

    def _energy_cap_due(self, tx: Transaction, power_kw: float) -> float | None:
        """When (monotonic) the transaction reaches its energy cap at this power (an
        estimate: the vehicle's curve may slow it, and the next refresh re-plans)."""
        if not tx.invalid_id or power_kw <= 0:
            return None
        remaining_wh = max(self._energy_cap() - tx.energy_wh, 0.0)
        return self.clock.monotonic() + remaining_wh / (power_kw * 1000.0) * 3600.0

    def _energy_cap_reached(self, connector: ConnectorState, tx: Transaction) -> bool:
        """The id tag was invalid and MaxEnergyOnInvalidId is delivered: no more energy,
        and the transaction ends (StopTransactionOnInvalidId) or stays suspended. True
        when it is to end: right after what is under way (a meter sample being taken
        keeps its transaction), so the caller leaves it as it is."""
        tx.invalid_id = False
        tx.suspended_by_csms = True
        if not self.adapter.settings.stop_transaction_on_invalid_id:
            self._emit_transaction(tx)
            return False
        try:
            asyncio.get_running_loop().call_soon(self._end_capped, connector, tx)
        except RuntimeError:  # no loop (a restore outside one): nothing is under way
            self._end_capped(connector, tx)
        return True

    def _end_capped(self, connector: ConnectorState, tx: Transaction) -> None:
        if connector.transaction is tx:
            self._end_transaction(connector, "InvalidIdEnergyLimit")
