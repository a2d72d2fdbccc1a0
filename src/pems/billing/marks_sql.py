"""Settlement's walk over the hour marks at the tariff's cuts (ADR 0004; PostgreSQL).

:mod:`pems.billing.lines_sql` prices a backlog per breakdown line by grouping
every reading into its cell; here the same rows come from the totals PostgreSQL
keeps at each whole hour (:mod:`pems.metering.hour_marks`), read only at the
cuts: about three a day a point instead of 96 readings.

A point's walk runs from its cursor through the mark at each cut up to its
last reading; each row opens the piece of usage up to the next, in cell
``pos`` (the cursor's cell; cell k for cut k; the last reading's, empty). A
mark splits its interval by time from the interval's start, floored on the
10⁻⁶ grid, as :func:`pems.domain.pricing.allocate` splits one interval over
several cells, so an offline gap over whole cells is priced as the per-cell
way prices it. A mark whose interval began at or before the cursor is split
again from the cursor. A fall after the cursor, TOU registers, or a cut
without its mark send the point the per-cell way, as in ``lines_sql``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from django.db import connection

from pems.core.by_id import by_id, id_base
from pems.metering.hour_marks import FALLS, MARKS, QUANTA_PER_STORED
from pems.metering.models import IntervalReading

_TABLE = IntervalReading._meta.db_table
#: Sorts after every cut: the row of a point's last reading.
_LAST = 2**31 - 1


def on_whole_hours(cuts: Sequence[datetime]) -> bool:
    """Whether every cut falls on a whole hour, where the hour marks are."""
    return all(not (cut.minute or cut.second or cut.microsecond) for cut in cuts)


def walk_sql(
    points: Sequence[int],
    cuts: Sequence[datetime],
    params: dict[str, object],
    registers: str,
    tiers: str,
) -> tuple[str, dict[int, tuple[datetime, int]]]:
    """The walk for ``lines_sql``'s parameters, and each point's last reading (instant, stored
    total; the cursor's when nothing is newer), which its rows leave out.

    ``params`` holds ``lines_sql``'s arrays (cursors, cuts, cycles, classes …),
    ``tiers`` its sums of each row's overlap with each tier band. Adds its own.
    """
    afters = cast(list[datetime], params["afters"])
    totals = cast(list[int], params["start_totals"])
    ends = _ends(points, afters, registers)
    params |= {  # each mark finds its point's cursor and last reading by array index
        "base": id_base(points),
        "after_by_point": by_id(dict(zip(points, afters, strict=True)), points),
        "total_by_point": by_id(dict(zip(points, totals, strict=True)), points),
        "last_by_point": by_id({point: at for point, (at, _, _) in ends.items()}, points),
        "last_points": list(ends),
        "last_ats": [at for at, _, _ in ends.values()],
        "last_totals": [total for _, total, _ in ends.values()],
        "last_cells": [bisect.bisect_left(cuts, at) for at, _, _ in ends.values()],
        "refused": [refused for _, _, refused in ends.values()],
    }
    # A cursor exactly on a cut has no mark there (marks are read after the cursor): its own
    # total opens the cell after the cut, and a new cycle if the cut starts one.
    on_cut = {}
    for point, after, total in zip(points, afters, totals, strict=True):
        number = bisect.bisect_left(cuts, after)
        if number < len(cuts) and cuts[number] == after:
            on_cut[point] = (number + 1, total)
    params["on_cut_points"] = list(on_cut)
    params["on_cut_ks"] = [k for k, _ in on_cut.values()]
    params["on_cut_totals"] = [total for _, total in on_cut.values()]
    last = {
        point: (after, total) for point, after, total in zip(points, afters, totals, strict=True)
    }
    last |= {point: (at, total) for point, (at, total, _) in ends.items()}
    sql = _WALK.format(marks=MARKS, quanta=QUANTA_PER_STORED, last=_LAST, tiers=tiers)
    return sql, last


def _ends(
    points: Sequence[int], afters: Sequence[datetime], registers: str
) -> dict[int, tuple[datetime, int, bool]]:
    """Per point with a reading after its cursor: the last one's instant and stored total,
    and whether anything after the cursor sends it the per-cell way."""
    sql = f"""
    SELECT due.point, r.read_at, r.energy_total,
      EXISTS (SELECT FROM {FALLS} f WHERE f.point_id = due.point AND f.read_at > due.after)
      OR EXISTS (SELECT FROM {_TABLE} g
        WHERE g.point_id = due.point AND g.read_at > due.after AND ({registers}))
    FROM unnest(%s::bigint[], %s::timestamptz[]) AS due(point, after)
    CROSS JOIN LATERAL (
      SELECT read_at, energy_total FROM {_TABLE}
      WHERE point_id = due.point AND read_at > due.after ORDER BY read_at DESC LIMIT 1
    ) AS r
    """  # noqa: S608 — table names from model metadata and hour_marks; values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(points), list(afters)])
        return {point: (at, int(total), refused) for point, at, total, refused in cursor}


# The cell's class, version and tier bands come from lines_sql's arrays, as in its own query.
_WALK = """
WITH marked AS (
  -- the cut's number from its place among the cuts (cut k is after k - 1 cuts)
  SELECT m.point_id AS point, width_bucket(m.at, %(thresholds)s::timestamptz[]) + 1 AS k,
    m.at, m.before_at, m.after_at, m.after_total, m.total,
    (%(after_by_point)s::timestamptz[])[m.point_id - %(base)s::bigint] AS after,
    (%(total_by_point)s::bigint[])[m.point_id - %(base)s::bigint] AS cursor_total
  FROM {marks} m
  -- a hashed filter, each point's cursor by array index: no join, the scan runs parallel
  WHERE m.at = ANY(%(cuts)s::timestamptz[])
    AND m.at > (%(after_by_point)s::timestamptz[])[m.point_id - %(base)s::bigint]
    AND m.at < (%(last_by_point)s::timestamptz[])[m.point_id - %(base)s::bigint]
), bounds AS (
  SELECT point, 0 AS k, pos, 1 AS step, total * {quanta} AS value,
    total * {quanta} + marker AS cycle_base, false AS bad
  FROM unnest(%(points)s::bigint[], %(afters)s::timestamptz[], %(start_cells)s::int[],
    %(start_totals)s::bigint[], %(markers)s::bigint[]) AS d(point, after, pos, total, marker)
  UNION ALL
  SELECT point, k, k, 1, value,
    CASE WHEN (%(cycles)s::int[])[k + 1] <> (%(cycles)s::int[])[k] THEN value END, false
  FROM (
    SELECT point, k, at, CASE WHEN before_at > after THEN total
      ELSE cursor_total * {quanta} + div((after_total - cursor_total)::numeric * {quanta}
        * (extract(epoch FROM at - after) * 1000000),
        extract(epoch FROM after_at - after) * 1000000)::bigint
      END AS value
    FROM marked
  ) AS split
  UNION ALL
  SELECT point, k, k, 1, total * {quanta},
    CASE WHEN (%(cycles)s::int[])[k + 1] <> (%(cycles)s::int[])[k] THEN total * {quanta} END, false
  FROM unnest(%(on_cut_points)s::bigint[], %(on_cut_ks)s::int[], %(on_cut_totals)s::bigint[])
    AS c(point, k, total)
  UNION ALL
  SELECT point, {last}, pos, 0, total * {quanta}, NULL, refused
  FROM unnest(%(last_points)s::bigint[], %(last_ats)s::timestamptz[], %(last_cells)s::int[],
    %(last_totals)s::bigint[], %(refused)s::bool[]) AS l(point, at, pos, total, refused)
), walked AS (
  -- one window: each row's piece runs from it to the next row, in the cell it opens
  SELECT point, pos,
    bad OR pos <> lag(pos) OVER w + step AS bad,  -- (a cut without its mark)
    value - first_value(value) OVER w AS lo,
    coalesce(lead(value) OVER w, value) - first_value(value) OVER w AS hi,
    -- the usage counted before the cycle began (the cursor's cycle: minus what it had used)
    max(cycle_base) OVER w - first_value(value) OVER w AS base,
    (%(versions)s::int[])[pos + 1] AS version, (%(classes)s::int[])[pos + 1] AS class
  FROM bounds WINDOW w AS (PARTITION BY point ORDER BY k)
)
SELECT point, class, max(pos), bool_or(bad), {tiers}
FROM walked GROUP BY point, class
"""
