"""What a sale reads once it holds the account row, in one SQL statement.

``sell`` runs on every cashier sale, portal payment and API call. Through the
ORM these reads were four statements (tariff, points, alarm state, relay
commands) whose compilation cost more CPU than the database spent answering
them (docs/benchmarks.md, "Cashier sale"). They return exactly what
``fee_ratio``, ``active_points`` and ``policy.read_inputs`` return — a test
holds the two paths together — so a sale decides on the same inputs either way.

Read *after* ``lock_open``: the alarm state changes only under the account
lock, so a statement that starts once the lock is held sees its latest value
(the lock statement itself could not: its snapshot predates the wait).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection

from pems.accounts.actions import recharge_key
from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.models import AccountTariff, MeterCreditMirror, PrepaidState, Tariff
from pems.billing.policy import RELAY_COMMAND_KINDS, Inputs, relay_from
from pems.billing.tariffs import service_fee_ratio
from pems.control.models import Command, CommandStatus
from pems.core.rows import Converter, Selection, col, converter, table
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount
from pems.metering.models import PointState


@dataclass(frozen=True)
class SaleReads:
    """The service-fee ratio in force, the points paid for, and the policy's inputs.

    Also the wallet's balance now (0 before its first posting), the id of the
    recharge already made with the sale's key, if any (the sale is a replay),
    and per meter-side point what its meter holds by PEMS's account: the
    point's meter-credit balance plus the drift its last reconciled reading
    showed (as ``billing.reconcile_many`` counts it towards the alarms).
    """

    fee_ratio: Decimal
    points: list[MeteringPoint]
    inputs: Inputs
    wallet: Decimal
    replayed: int | None
    meter_credit: dict[int, Decimal]

    @property
    def replay(self) -> bool:
        return self.replayed is not None


def read_for_sale(locked: Account, now: datetime, idempotency_key: str = "") -> SaleReads:
    """Everything ``sell`` reads, for a caller holding the account row.

    ``idempotency_key`` is the sale's own (``recharge_key`` makes the entry's).
    """
    query = _query(connection.vendor)
    moment = connection.ops.adapt_datetimefield_value(now)
    wallet_key, entry_key = chart.wallet_ref(locked).key, recharge_key(idempotency_key)
    with connection.cursor() as cursor:
        cursor.execute(
            query.sql,
            [wallet_key, entry_key, locked.pk, locked.pk, moment, locked.pk, locked.pk, locked.pk],
        )
        rows = cursor.fetchall()
    (wallet, replayed), state_row, tariff, *_ = query.split(rows[0])
    if state_row[0] is None:  # the account's first decision
        state, _created = PrepaidState.objects.get_or_create(account=locked)
    else:
        state = query.state.instance(state_row)
    ratio = Decimal(0)
    if tariff[0] is not None:
        document, name = tariff
        ratio = service_fee_ratio(document, name, locked.tenant.site, now)
    points, relays, meter_credit = [], [], {}
    for row in rows:
        *_, point_row, relay_row, command_row, (held, drift) = query.split(row)
        if point_row[0] is None:  # no active point: the one row carries the account's columns
            continue
        point = query.point.instance(point_row)
        points.append(point)
        if point.fee_control == FeeControl.METER_SIDE:
            meter_credit[point.pk] = sum(
                (query.balance(v) for v in (held, drift) if v is not None), Decimal(0)
            )
        elif point.fee_control == FeeControl.SERVER_SIDE:
            relay_closed, read_at = query.relay.values(relay_row)
            latest = None if command_row[0] is None else tuple(query.command.values(command_row))
            relays.append((point, relay_from(point, relay_closed, read_at, latest)))  # type: ignore[arg-type]
    balance = Decimal(0) if wallet is None else query.balance(wallet)
    return SaleReads(ratio, points, Inputs(state, relays), balance, replayed, meter_credit)


@dataclass(frozen=True)
class _Query:
    """The statement and how its columns split.

    (wallet balance, replayed entry), alarm state, tariff, point, relay, command,
    (meter-credit balance, drift).
    """

    sql: str
    balance: Converter
    state: Selection
    point: Selection
    relay: Selection
    command: Selection

    def split(self, row: Sequence[Any]) -> list[Sequence[Any]]:
        parts, start = [], 0
        widths = (2, len(self.state), 2, len(self.point), len(self.relay), len(self.command), 2)
        for width in widths:
            parts.append(row[start : start + width])
            start += width
        return parts


@cache
def _query(vendor: str) -> _Query:
    """Built once per backend: quoting and converters are the backend's.

    One row per active point (by id), or one row of NULL point columns when
    there is none; the account's columns repeat on every row. Relay kinds and
    the failed status are choice values, not input.
    """
    state = Selection(PrepaidState, "state")
    point = Selection(MeteringPoint, "point")
    relay = Selection(PointState, "relay", ["relay_closed", "read_at"])
    command = Selection(Command, "command", ["id", "kind", "status", "completed_at", "by_policy"])
    starts = col(AccountTariff, "effective_from")
    in_force = (  # the latest tariff assignment that has begun
        f"SELECT {col(AccountTariff, 'tariff')} FROM {table(AccountTariff)}"  # noqa: S608
        f" WHERE {col(AccountTariff, 'account')} = %s AND {starts} <= %s"
        f" ORDER BY {starts} DESC LIMIT 1"
    )
    point_id = col(MeteringPoint, "id", "point")
    kinds = ", ".join(f"'{kind}'" for kind in RELAY_COMMAND_KINDS)
    latest = (  # the point's latest relay command that has not failed
        f"SELECT {col(Command, 'id')} FROM {table(Command)}"  # noqa: S608
        f" WHERE {col(Command, 'point')} = {point_id} AND {col(Command, 'kind')} IN ({kinds})"
        f" AND {col(Command, 'status')} <> '{CommandStatus.FAILED.value}'"
        f" ORDER BY {col(Command, 'id')} DESC LIMIT 1"
    )
    held = (  # a point's meter credit by the ledger, and the drift its meter last showed
        f" LEFT JOIN {table(LedgerAccount, 'held')}"
        f" ON {col(LedgerAccount, 'account', 'held')} = %s"
        f" AND {col(LedgerAccount, 'metering_point', 'held')} = {point_id}"
        f" AND {col(LedgerAccount, 'kind', 'held')} = '{LedgerAccount.Kind.METER_CREDIT.value}'"
        f" LEFT JOIN {table(MeterCreditMirror, 'mirror')}"
        f" ON {col(MeterCreditMirror, 'account', 'mirror')} = %s"
        f" AND {col(MeterCreditMirror, 'point', 'mirror')} = {point_id}"
    )
    points = (  # the active points, each with its relay reading and latest relay command
        f"{table(MeteringPoint, 'point')}"
        f" JOIN {table(AccountMeteringPoint, 'link')}"
        f" ON {col(AccountMeteringPoint, 'metering_point', 'link')} = {point_id}"
        f" AND {col(AccountMeteringPoint, 'account', 'link')} = %s"
        f" AND {col(AccountMeteringPoint, 'released_at', 'link')} IS NULL"
        f" LEFT JOIN {table(PointState, 'relay')}"
        f" ON {col(PointState, 'point', 'relay')} = {point_id}"
        f" LEFT JOIN {table(Command, 'command')} ON {col(Command, 'id', 'command')} = ({latest})"
        f"{held}"
    )
    tariff = f"{col(Tariff, 'document', 'tariff')}, {col(Tariff, 'name', 'tariff')}"
    balance = LedgerAccount._meta.get_field("balance")
    wallet = (
        f"SELECT {col(LedgerAccount, 'balance')} FROM {table(LedgerAccount)}"  # noqa: S608
        f" WHERE {col(LedgerAccount, 'key')} = %s"
    )
    replay = (
        f"SELECT {col(JournalEntry, 'id')} FROM {table(JournalEntry)}"  # noqa: S608
        f" WHERE {col(JournalEntry, 'idempotency_key')} = %s"
    )
    sql = (
        f"SELECT ({wallet}), ({replay}), {state.sql}, {tariff}, {point.sql}, {relay.sql},"  # noqa: S608
        f" {command.sql}, {col(LedgerAccount, 'balance', 'held')},"
        f" {col(MeterCreditMirror, 'drift', 'mirror')} FROM (SELECT 1 AS one) AS one"
        f" LEFT JOIN {table(PrepaidState, 'state')}"
        f" ON {col(PrepaidState, 'account', 'state')} = %s"
        f" LEFT JOIN {table(Tariff, 'tariff')} ON {col(Tariff, 'id', 'tariff')} = ({in_force})"
        f" LEFT JOIN ({points}) ON 1 = 1"
        f" ORDER BY {point_id}"
    )
    return _Query(sql, converter(balance), state, point, relay, command)
