"""Sales (recharges), refunds and reversals: ledger entries a person makes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Field, Schema

from pems.api.schemas.common import (
    Currency,
    DecimalIn,
    DecimalOut,
    IdempotencyKey,
    Reason,
    RequiredReason,
)
from pems.ledger.models import Channel

#: API clients' idempotency keys live in their own namespace, apart from PEMS's own keys.
KEY_PREFIX = "api:"


class AmountIn(Schema):
    """An amount of money in the site's currency (``api.money.money_of`` checks both)."""

    amount: DecimalIn = Field(description='A decimal string, e.g. "100.00".')
    currency: Currency = Field(description="Must be the site's currency, e.g. CNY.")


class PurchaseIn(AmountIn):
    channel: Channel
    idempotency_key: IdempotencyKey = Field(
        description="Unique per sale: a retried request with the same key sells once."
    )


class RechargeIn(PurchaseIn):
    account: int
    reason: Reason = ""


class RefundIn(PurchaseIn):
    account: int
    reason: RequiredReason


class ReversalIn(Schema):
    reason: RequiredReason


def _client_key(entry: Any) -> str | None:
    key = entry.idempotency_key or ""
    _kind, _, rest = key.partition(":")
    return rest.removeprefix(KEY_PREFIX) if rest.startswith(KEY_PREFIX) else None


class EntryOut(Schema):
    """A journal entry a person made; ``id`` is the receipt number."""

    id: int
    site: int
    account: int | None
    amount: DecimalOut
    currency: str
    channel: str
    created_at: datetime
    by: str
    reason: str
    idempotency_key: str | None = Field(description="The key the API client sent, if any.")
    reversed_by: int | None = Field(description="The reversal entry, once reversed.")

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.site_id)

    @staticmethod
    def resolve_account(obj: Any) -> int | None:
        return obj.account_id  # type: ignore[no-any-return]

    @staticmethod
    def resolve_amount(obj: Any) -> Any:
        return obj.memo.get("amount")

    @staticmethod
    def resolve_currency(obj: Any) -> str:
        return str(obj.site.currency)

    @staticmethod
    def resolve_channel(obj: Any) -> str:
        return str(obj.memo.get("channel", ""))

    @staticmethod
    def resolve_by(obj: Any) -> str:
        return str(obj.actor_label)

    @staticmethod
    def resolve_idempotency_key(obj: Any) -> str | None:
        return _client_key(obj)

    @staticmethod
    def resolve_reversed_by(obj: Any) -> int | None:
        return obj.reversal_id  # type: ignore[no-any-return] # annotated by the listing query


class RechargeOut(EntryOut):
    """A sale: ``amount`` paid, ``fee`` kept, ``credited`` to the tenant."""

    fee: DecimalOut
    credited: DecimalOut

    @staticmethod
    def resolve_fee(obj: Any) -> Any:
        return obj.memo.get("fee", "0.00")

    @staticmethod
    def resolve_credited(obj: Any) -> str:
        return str(Decimal(str(obj.memo["amount"])) - Decimal(str(obj.memo.get("fee", "0.00"))))


class SaleOut(RechargeOut):
    """A sale as the cashier's request answers it: with the balance and the meter push."""

    balance: DecimalOut = Field(description="The account's balance after the sale.")
    credit_push: int | None = Field(
        description="The command pushing the credit to a meter-side meter, if any."
    )


class RefundOut(EntryOut):
    balance: DecimalOut = Field(description="The account's balance after the refund.")


class ReversalOut(Schema):
    id: int
    reverses: int
    created_at: datetime
    by: str
    reason: str

    @staticmethod
    def resolve_reverses(obj: Any) -> int:
        return int(obj.reverses_id)

    @staticmethod
    def resolve_by(obj: Any) -> str:
        return str(obj.actor_label)
