"""Hour marks and total falls, kept by PostgreSQL triggers (ADR 0004; ``metering.hour_marks``).

PostgreSQL only: SQLite settles cell by cell and keeps neither. The SQL is
frozen here; a change to it is a new migration. 1000 is the quanta of the
10⁻⁶ pricing grid per stored unit (``hour_marks.QUANTA_PER_STORED``).
"""

from django.db import migrations

CREATE = """
CREATE TABLE metering_hourmark (
  point_id bigint NOT NULL,
  at timestamptz NOT NULL,          -- a whole hour
  total bigint NOT NULL,            -- quanta of the 10⁻⁶ grid
  before_at timestamptz NOT NULL,   -- the reading before the hour
  after_at timestamptz NOT NULL,    -- the reading at or after it
  after_total bigint NOT NULL,      -- its total, stored units
  PRIMARY KEY (point_id, at)
);
CREATE TABLE metering_totalfall (
  point_id bigint NOT NULL,
  read_at timestamptz NOT NULL,     -- a reading whose total is below the one before it
  PRIMARY KEY (point_id, read_at)
);
CREATE INDEX interval_reading_registers ON metering_intervalreading (point_id, read_at)
  WHERE energy_sharp IS NOT NULL OR energy_peak IS NOT NULL
     OR energy_flat IS NOT NULL OR energy_valley IS NOT NULL;

-- Work out the marks and falls of each point again around [lo, hi], its changed readings.
CREATE FUNCTION metering_remark(points bigint[], los timestamptz[], his timestamptz[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  wp bigint[]; wa timestamptz[]; wb timestamptz[]; i int;
BEGIN
  -- One writer at a time per point, in point order, until commit: a second waits, then
  -- reads (a statement, a snapshot) the first one's readings too.
  PERFORM pg_advisory_xact_lock(hashtext('metering_hourmark'), mod(point, 2147483647)::int)
  FROM (SELECT DISTINCT unnest(points) AS point ORDER BY 1) AS ordered;
  -- From the reading before lo (lo when none) to the one after hi (none: to the end).
  SELECT array_agg(s.point), array_agg(coalesce(
      (SELECT r.read_at FROM metering_intervalreading r WHERE r.point_id = s.point AND r.read_at < s.lo
       ORDER BY r.read_at DESC LIMIT 1), s.lo)),
    array_agg((SELECT r.read_at FROM metering_intervalreading r WHERE r.point_id = s.point
       AND r.read_at > s.hi ORDER BY r.read_at LIMIT 1))
  INTO wp, wa, wb
  FROM (SELECT point, min(lo) AS lo, max(hi) AS hi
        FROM unnest(points, los, his) AS c(point, lo, hi) GROUP BY point) AS s;
  -- Point by point: each statement walks its index (a join could scan the whole table).
  FOR i IN 1 .. coalesce(array_length(wp, 1), 0) LOOP
    DELETE FROM metering_hourmark
      WHERE point_id = wp[i] AND at > wa[i] AND (wb[i] IS NULL OR at <= wb[i]);
    DELETE FROM metering_totalfall
      WHERE point_id = wp[i] AND read_at > wa[i] AND (wb[i] IS NULL OR read_at <= wb[i]);
  END LOOP;
  WITH pairs AS MATERIALIZED (
    SELECT x.point AS point_id, r.before_at, r.before_total, r.read_at AS after_at,
      r.energy_total AS after_total
    FROM unnest(wp, wa, wb) AS x(point, a, b) CROSS JOIN LATERAL (
      SELECT read_at, energy_total,
        lag(read_at) OVER (ORDER BY read_at) AS before_at,
        lag(energy_total) OVER (ORDER BY read_at) AS before_total
      FROM metering_intervalreading
      WHERE point_id = x.point AND read_at >= x.a AND (x.b IS NULL OR read_at <= x.b)
    ) AS r
    WHERE r.before_at IS NOT NULL
  ), fell AS (
    INSERT INTO metering_totalfall (point_id, read_at)
    SELECT point_id, after_at FROM pairs WHERE after_total < before_total
  )
  INSERT INTO metering_hourmark (point_id, at, total, before_at, after_at, after_total)
  SELECT point_id, hour,
    before_total * 1000 + div(
      (after_total - before_total)::numeric * 1000
        * (extract(epoch FROM hour - before_at) * 1000000),
      extract(epoch FROM after_at - before_at) * 1000000)::bigint,
    before_at, after_at, after_total
  FROM pairs, generate_series(
    date_trunc('hour', before_at) + interval '1 hour', after_at, interval '1 hour') AS hour;
END $$;

-- Inserted or deleted rows, as the trigger names them: "changed".
CREATE FUNCTION metering_remark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM metering_remark(array_agg(point_id), array_agg(read_at), array_agg(read_at))
    FROM changed HAVING count(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION metering_remark_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM metering_remark(array_agg(point_id), array_agg(read_at), array_agg(read_at))
    FROM (SELECT point_id, read_at FROM before_rows
          UNION ALL SELECT point_id, read_at FROM after_rows) AS changed HAVING count(*) > 0;
  RETURN NULL;
END $$;

CREATE FUNCTION metering_remark_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE metering_hourmark, metering_totalfall;
  RETURN NULL;
END $$;

CREATE TRIGGER interval_reading_marks_truncate AFTER TRUNCATE ON metering_intervalreading
  FOR EACH STATEMENT EXECUTE FUNCTION metering_remark_truncated();
CREATE TRIGGER interval_reading_marks_insert AFTER INSERT ON metering_intervalreading
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION metering_remark_changed();
CREATE TRIGGER interval_reading_marks_delete AFTER DELETE ON metering_intervalreading
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION metering_remark_changed();
CREATE TRIGGER interval_reading_marks_update AFTER UPDATE ON metering_intervalreading
  REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metering_remark_updated();

-- The readings stored before the triggers.
SELECT metering_remark(array_agg(point_id), array_agg(first), array_agg(last))
FROM (SELECT point_id, min(read_at) AS first, max(read_at) AS last
      FROM metering_intervalreading GROUP BY point_id) AS stored;
"""

DROP = """
DROP TRIGGER interval_reading_marks_truncate ON metering_intervalreading;
DROP TRIGGER interval_reading_marks_insert ON metering_intervalreading;
DROP TRIGGER interval_reading_marks_delete ON metering_intervalreading;
DROP TRIGGER interval_reading_marks_update ON metering_intervalreading;
DROP FUNCTION metering_remark_truncated();
DROP FUNCTION metering_remark_changed();
DROP FUNCTION metering_remark_updated();
DROP FUNCTION metering_remark(bigint[], timestamptz[], timestamptz[]);
DROP INDEX interval_reading_registers;
DROP TABLE metering_totalfall;
DROP TABLE metering_hourmark;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("metering", "0004_meterevent_credit_drift")]

    operations = [migrations.RunPython(forward, backward)]
