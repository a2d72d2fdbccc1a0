"""Hour marks: each point's total at every whole hour, kept by PostgreSQL (ADR 0004).

Settling a backlog prices each cell of the tariff (the time between two cut
points) from the total at its opening cut to the total at the next. Grouping
every stored reading into cells costs several times a scan of them, so on
PostgreSQL the database also keeps, as readings are stored, the total at each
whole hour a point's readings straddle: ``metering_hourmark``. A tariff whose
cuts fall on whole hours is priced from the marks at its cuts instead
(``pems.billing.marks_sql``), three or so a day instead of 96 readings.

A mark splits the interval around its hour by time, floor-rounded on the
10⁻⁶ grid (:data:`pems.domain.pricing.ENERGY_QUANTUM`) exactly as the
interval would be split at a cut there; it keeps the two readings it lies
between, so a gap over a whole cell, or a cursor inside the interval, can be
told. ``metering_totalfall`` names every reading whose total is below the one
before it (a misread, a wrap, an exchange): settlement leaves such a point to
the per-cell path, which decides what a fall means. Readings with TOU
registers are found by a partial index, for the same reason.

Triggers on ``metering_intervalreading`` (metering migration 0005) keep both
tables true to the readings after every INSERT, UPDATE and DELETE (``INSERT …
ON CONFLICT`` too; a TRUNCATE empties them): per statement, each touched
point's marks and falls between the reading before its first changed reading
and the one after its last are worked out again from the readings, one writer
of a point at a time (a transaction-scoped advisory lock per point, taken in
point order: a second writer waits for the first to commit, then sees its
readings). The collector stores a batch in one statement on PostgreSQL, so the
work runs once a batch. SQLite keeps none: it settles cell by cell.
"""

from __future__ import annotations

from decimal import Decimal

from pems.domain.pricing import ENERGY_QUANTUM
from pems.metering.models import ENERGY_PLACES

#: Quanta of the pricing grid per stored unit of an energy total (10⁻³ kWh → 10⁻⁶ kWh).
QUANTA_PER_STORED = int(Decimal(1).scaleb(-ENERGY_PLACES) / ENERGY_QUANTUM)

MARKS = "metering_hourmark"
FALLS = "metering_totalfall"
