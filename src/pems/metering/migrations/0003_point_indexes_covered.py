"""Drop the point-only indexes of the two reading tables: their unique constraints lead with it.

Every reading written kept a third index up to date for nothing; lookups by
point and the foreign key's checks use ``interval_reading_unique`` /
``daily_freeze_unique``. Only the index is dropped (Django's own AlterField
would drop and re-validate the foreign key over every stored reading).
"""

import django.db.models.deletion
from django.db import migrations, models

# Django's names for the indexes it made (the same on every backend).
INDEXES = {
    "metering_intervalreading": "metering_intervalreading_point_id_88398a09",
    "metering_dailyfreeze": "metering_dailyfreeze_point_id_0eecc9e1",
}


def _field(related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to="inventory.meteringpoint",
        verbose_name="metering point",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("metering", "0002_interval_reading_point_time"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("dailyfreeze", "point", _field("daily_freezes")),
                migrations.AlterField("intervalreading", "point", _field("interval_readings")),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("point_id")',
                )
                for table, index in INDEXES.items()
            ],
        )
    ]
