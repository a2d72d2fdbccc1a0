"""The database itself refuses to UPDATE a posting or a journal entry.

Deletes stay possible at the SQL level only because test databases are
flushed with DELETE on SQLite; the models refuse delete() regardless.
"""

from django.db import migrations

TABLES = ("ledger_posting", "ledger_journalentry")

SQLITE = """
CREATE TRIGGER IF NOT EXISTS {table}_append_only BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: post a reversal instead'); END;
"""

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION pems_refuse_update() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: post a reversal instead', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""

POSTGRES = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table}
FOR EACH ROW EXECUTE FUNCTION pems_refuse_update();
"""


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)  # its % is PL/pgSQL, not a placeholder
        for table in TABLES:
            schema_editor.execute(POSTGRES.format(table=table))
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(SQLITE.format(table=table))


def drop(apps, schema_editor):
    for table in TABLES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
