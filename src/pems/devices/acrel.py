"""Driver for Acrel prepaid meters over Modbus: DTSY1352-NK, DDSY1352-NK, ADF300.

Everything about the register layout comes from the model's map file; this
module only turns decoded blocks into records and commands into writes.
An ADF300 circuit is driven exactly like a meter at its own Modbus address.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from decimal import Decimal

from pems.devices.bus import ModbusBus
from pems.devices.errors import (
    BadFrame,
    ExceptionResponse,
    PurchaseReason,
    PurchaseRejected,
)
from pems.devices.maps import get_map
from pems.devices.modbus_common import ModbusMeterBase, decode_clock
from pems.devices.records import (
    Energy,
    ForcedMode,
    MeterState,
    PhaseValues,
    Prices,
)
from pems.devices.registers import Block, BlockValues, RegisterMap

ACREL_MODELS = ("DTSY1352-NK", "DDSY1352-NK", "ADF300")


@dataclass(frozen=True, slots=True)
class PurchaseStatus:
    """Outcome of the last purchase write and the meter's purchase count."""

    last_result: str
    purchase_count: int


@dataclass(frozen=True, slots=True)
class FeeSettings:
    """The fee-control parameters as the meter holds them."""

    fee_control_on: bool
    purchase_count: int
    prices: Prices
    alarm1: Decimal
    alarm2: Decimal
    overdraft_limit: Decimal
    hoarding_limit: Decimal
    total_purchased: Decimal
    remaining: Decimal


def circuit_phases(regmap: RegisterMap, live: BlockValues) -> int:
    """Phases of this meter (fixed per model, or reported per ADF300 circuit)."""
    if regmap.phases:
        return regmap.phases
    phases = live.part("circuit_phases")
    if phases not in (1, 3):
        raise BadFrame(f"circuit phase byte is {phases}, expected 1 or 3")
    return phases


def decode_live(regmap: RegisterMap, words: list[int], tz: tzinfo) -> MeterState:
    """Decode one read of the ``live`` block into a :class:`MeterState`."""
    live = regmap.block("live").decode(words)
    phases = circuit_phases(regmap, live)
    per_phase = tuple(
        PhaseValues(live.decimal(f"u{p}"), live.decimal(f"i{p}"), live.decimal(f"p{p}"))
        for p in "abc"[:phases]
    )
    return MeterState(
        model=regmap.model,
        type_code=live.integer("type_code"),
        energy_unit=regmap.energy_unit,
        energy=Energy(
            total=live.decimal("energy_total"),
            sharp=live.decimal("energy_sharp"),
            peak=live.decimal("energy_peak"),
            flat=live.decimal("energy_flat"),
            valley=live.decimal("energy_valley"),
        ),
        remaining_credit=live.decimal("remaining_credit"),
        purchase_count=live.integer("purchase_count"),
        relay_closed=all(live.flag(f"relay_l{n}") for n in range(1, phases + 1)),
        forced=None,
        alarm1=live.flag("alarm1"),
        alarm2=live.flag("alarm2"),
        arrears=live.flag("arrears"),
        fault=live.flag("fault"),
        phases=per_phase,
        total_active_power=live.decimal("p_total"),
        power_factor=live.decimal("pf_total"),
        clock=decode_clock(regmap, live, tz),
    )


def decode_forced(words: list[int], regmap: RegisterMap) -> ForcedMode:
    """Interpret the control pair read back from the meter."""
    control = regmap.block("control").decode(words)
    if control.integer("force_enable") == 0:
        return ForcedMode.PREPAID
    return ForcedMode.FORCED_TRIP if control.integer("force_action") else ForcedMode.KEEP_POWER


class AcrelMeter(ModbusMeterBase):
    """One Acrel meter (or ADF300 circuit) at a Modbus address on a shared bus.

    ``with_control`` makes :meth:`read_state` also read the control pair
    (one more transaction) to report keep-power / forced-trip state.
    """

    def __init__(
        self,
        bus: ModbusBus,
        address: int,
        model: str,
        tz: tzinfo,
        *,
        with_control: bool = False,
    ) -> None:
        if model not in ACREL_MODELS:
            raise ValueError(f"{model!r} is not an Acrel model ({', '.join(ACREL_MODELS)})")
        super().__init__(bus, address, get_map(model), tz)
        self.with_control = with_control
        self._phases: int | None = self.regmap.phases or None

    async def read_state(self) -> MeterState:
        """One read of the 48-register live block (plus the control pair if asked)."""
        live = self.regmap.block("live")
        state = self._decode(lambda w: decode_live(self.regmap, w, self.tz), await self._read(live))
        self._phases = len(state.phases)
        if not self.with_control:
            return state
        return _with_forced(state, await self.read_control())

    async def read_purchase_count(self) -> int:
        """Purchase count from the live block (the meter's own register, not the convention)."""
        state = await self.read_state()
        if state.purchase_count is None:
            raise TypeError("Acrel live block always carries a purchase count")
        return state.purchase_count

    async def read_control(self) -> ForcedMode:
        """Read the control pair: prepaid, forced trip, or keep-power."""
        words = await self._read(self.regmap.block("control"))
        return self._decode(lambda w: decode_forced(w, self.regmap), words)

    async def keep_power(self, on: bool) -> None:
        """Forced close left enabled (on), or hand control back to the meter (off)."""
        await self._command("keep_power_on" if on else "keep_power_off")

    async def resume_prepaid(self) -> None:
        """Release any forced state (force-enable = 0)."""
        await self._command("resume_prepaid")

    async def read_purchase_status(self) -> PurchaseStatus:
        """Read the PEMS-convention purchase status block."""
        block = self.regmap.block("purchase_status")
        values = self._decode(block.decode, await self._read(block))
        code = values.integer("last_purchase_result")
        return PurchaseStatus(
            self.regmap.purchase_results.get(code, "other"),
            values.integer("status_purchase_count"),
        )

    async def push_credit(self, amount_minor: int, purchase_count: int, mac: bytes) -> None:
        """Push a purchase: FC16 of the ``purchase`` block, then read back the reason if refused.

        ASSUMPTION (PEMS convention, see maps/_acrel_common.toml): the vendor's real
        purchase encoding is undocumented; a field engineer replaces this method and
        the ``purchase`` / ``purchase_status`` blocks with it.
        """
        if len(mac) != 4:
            raise ValueError("a purchase MAC is 4 bytes")
        start, words = self.regmap.block("purchase").encode_write(
            {
                "purchase_amount": amount_minor,
                "purchase_new_count": purchase_count,
                "purchase_mac": int.from_bytes(mac, "big"),
            }
        )
        try:
            await self.bus.write(self.address, start, words)
        except ExceptionResponse as refused:
            status = await self.read_purchase_status()
            if status.last_result in ("accepted", "none"):
                raise
            raise PurchaseRejected(
                PurchaseReason(status.last_result),
                status.purchase_count,
                endpoint=self.bus.endpoint,
                address=self.address,
            ) from refused

    async def read_fee_settings(self) -> FeeSettings:
        """Read the fee-control block (prices, thresholds, limits)."""
        block = await self._fee_block()
        fee = self._decode(block.decode, await self._read(block))
        return FeeSettings(
            fee_control_on=fee.integer("fee_control") == 1,
            purchase_count=fee.integer("fc_purchase_count"),
            prices=Prices(*(fee.decimal(f"price{n}") for n in range(1, 5))),
            alarm1=fee.decimal("alarm1_threshold"),
            alarm2=fee.decimal("alarm2_threshold"),
            overdraft_limit=fee.decimal("overdraft_limit"),
            hoarding_limit=fee.decimal("hoarding_limit"),
            total_purchased=fee.decimal("total_purchased"),
            remaining=fee.decimal("fc_remaining"),
        )

    async def set_prices(self, prices: Prices) -> None:
        """Write rates 1–4 (sharp, peak, flat, valley) in one FC16."""
        values = (prices.sharp, prices.peak, prices.flat, prices.valley)
        await self._write_fields(
            await self._fee_block(), {f"price{n}": v for n, v in enumerate(values, 1)}
        )

    async def set_alarm_thresholds(
        self, alarm1: Decimal, alarm2: Decimal, overdraft: Decimal | None = None
    ) -> None:
        """Write alarm 1/2 thresholds (and the overdraft limit) in one FC16."""
        values: dict[str, Decimal | int] = {"alarm1_threshold": alarm1, "alarm2_threshold": alarm2}
        if overdraft is not None:
            values["overdraft_limit"] = overdraft
        await self._write_fields(await self._fee_block(), values)

    async def clear_credit(self) -> None:
        """Write the map's ``[clear_credit]`` fields (remaining credit = 0) in one FC16.

        UNVERIFIED against a real meter (see maps/_acrel_common.toml): the encoding is
        data a field engineer corrects; a map without it refuses the clear.
        """
        if not self.regmap.clear_credit:
            raise self._unsupported("clearing its credit")
        await self._write_fields(await self._fee_block(), self.regmap.clear_credit)

    async def set_fee_control(self, on: bool) -> None:
        """Switch the meter's own prepaid fee control on (meter-side) or off."""
        await self._write_fields(await self._fee_block(), {"fee_control": int(on)})

    async def _fee_block(self) -> Block:
        """The fee-control block; ADF300 three-phase circuits use their own."""
        if "fee_control_3p" not in self.regmap.blocks:
            return self.regmap.block("fee_control")
        if self._phases is None:
            await self.read_state()
        return self.regmap.block("fee_control_3p" if self._phases == 3 else "fee_control")


def _with_forced(state: MeterState, forced: ForcedMode) -> MeterState:
    return replace(state, forced=forced)
