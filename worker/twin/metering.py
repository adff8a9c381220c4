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

import math
from datetime import datetime, timedelta

from worker.twin.config import CurrentType
from worker.twin.events import MeterSampled
from worker.twin.model import ConnectorState, QueuedMessage, Transaction
from worker.twin.smart_charging import ChargingSchedulePeriod
from worker.twin.values import MeterSample

#: How far ahead (s) the twin looks for the next change of a charging schedule.
LIMIT_HORIZON = 3600


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
        return self._epoch + timedelta(seconds=monotonic)

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
            if vehicle is not None:  # a session ended (or never began): still plugged in
                self._set_vehicle_status(connector, "full" if vehicle.is_full else "plugged-in")
            self._publish(connector)
            return
        current_type = connector.current_type
        voltage, phases, max_kw = self._electrics(current_type)
        due = self._next_limit_change(connector, tx) if len(self.profiles) else None
        if due != connector.limit_due:
            connector.limit_due = due
            self._reschedule()
        limit = max_kw
        setpoint = None
        if len(self.profiles):
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
        connector.limit_kw = max(limit, 0.0)
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
            power = min(connector.limit_kw, wanted)
        connector.power_kw = power
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
        voltage, phases, _ = self._electrics(current_type)
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
