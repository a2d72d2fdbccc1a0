"""Money and quantities: exact Decimals, one rounding rule, no floats, no mixing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.domain.errors import (
    CurrencyError,
    FloatNotAllowedError,
    PrecisionError,
    UnitMismatchError,
)
from pems.domain.fees import split_top_up
from pems.domain.money import D, Money, minor_unit, round_money
from pems.domain.quantities import Quantity, Unit, kwh, m3


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_is_ever_accepted(value: float) -> None:
    with pytest.raises(FloatNotAllowedError):
        D(value)  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowedError):
        Money.of(value, "CNY")  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowedError):
        Money(value, "CNY")  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowedError):
        round_money(value, "CNY")  # type: ignore[arg-type]
    with pytest.raises(FloatNotAllowedError):
        Quantity(value, Unit.KWH)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1.005", "1.01"), ("1.004", "1.00"), ("-1.005", "-1.01"), ("2.675", "2.68"), ("0.5", "0.50")],
)
def test_round_money_is_half_up_to_the_minor_unit(raw: str, expected: str) -> None:
    # 2.675 is the classic float trap (2.67499999… as a float); as a Decimal it rounds up.
    assert round_money(D(raw), "CNY") == Money.of(expected, "CNY")
    assert str(round_money(D(raw), "CNY").amount) == expected


def test_minor_units_follow_the_currency() -> None:
    assert minor_unit("CNY") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal(1)
    assert round_money(D("10.5"), "JPY") == Money.of(11, "JPY")
    with pytest.raises(CurrencyError, match="unknown currency"):
        minor_unit("XXX")


def test_money_refuses_sub_minor_precision_and_other_currencies() -> None:
    with pytest.raises(PrecisionError, match="round_money"):
        Money.of("1.001", "CNY")
    with pytest.raises(CurrencyError):
        Money.of(1, "CNY") + Money.of(1, "USD")
    with pytest.raises(CurrencyError):
        assert Money.of(1, "CNY") < Money.of(2, "USD")
    assert Money.of("1.5", "CNY") + Money.of("2.25", "CNY") == Money.of("3.75", "CNY")
    assert str(Money.of(3, "CNY")) == "3.00 CNY"


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "", True])
def test_d_rejects_non_numbers(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        D(bad)  # type: ignore[arg-type]


def test_quantities_never_mix_units() -> None:
    assert kwh("1.5") + kwh("2") == kwh("3.5")
    with pytest.raises(UnitMismatchError):
        kwh(1) + m3(1)
    assert str(m3("2")) == "2 m³"
    assert Unit.parse("m³") is Unit.M3


@given(
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=Decimal("0.99"), places=4),
)
def test_top_up_split_always_adds_up(cents: int, ratio: Decimal) -> None:
    amount = Money(Decimal(cents).scaleb(-2), "CNY")
    split = split_top_up(amount, ratio)
    assert split.credited + split.fee == amount
    assert split.fee == round_money(amount.amount * ratio, "CNY")


def test_top_up_split_worked_example() -> None:
    # 100.00 with a 2.5 % service fee: fee 2.50, credit 97.50. 33.33 at 2.5 %: 0.83325 -> 0.83.
    assert split_top_up(Money.of("100", "CNY"), D("0.025")).credited == Money.of("97.5", "CNY")
    split = split_top_up(Money.of("33.33", "CNY"), D("0.025"))
    assert (split.fee, split.credited) == (Money.of("0.83", "CNY"), Money.of("32.50", "CNY"))
    with pytest.raises(ValueError, match="fee ratio"):
        split_top_up(Money.of(1, "CNY"), D(1))


def test_absurd_amounts_are_refused_cleanly() -> None:
    with pytest.raises(PrecisionError, match="too large"):
        Money.of("1e40", "CNY")
    with pytest.raises(PrecisionError, match="too large"):
        round_money(D("1e40"), "CNY")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_round_money_is_within_half_a_minor_unit(value: Decimal) -> None:
    try:
        rounded = round_money(value, "CNY")
    except PrecisionError:
        return  # beyond 28 significant digits
    assert abs(rounded.amount - value) <= Decimal("0.005")
