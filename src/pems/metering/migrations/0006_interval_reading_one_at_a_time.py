"""One reading of a point at one instant: the (point, read_at) index becomes unique.

Readings are ordered by their time (settlement, the hour marks' triggers); two of
one point at the same instant, each in its own interval, left that order
undecided, and the triggers could fail the statement storing them. A database
already holding such a pair stops here and names them: keep the right one of
each pair (the Django admin's interval readings), then migrate again.
"""

from django.db import migrations, models

_TIES = """
SELECT point_id, read_at FROM metering_intervalreading
GROUP BY point_id, read_at HAVING count(*) > 1 ORDER BY point_id, read_at LIMIT 20
"""


def refuse_ties(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_TIES)
        ties = cursor.fetchall()
    if ties:
        named = "; ".join(f"point {point} at {at}" for point, at in ties)
        raise RuntimeError(
            "Some metering points have two interval readings at the same instant (the first "
            f"{len(ties)}: {named}). Keep one of each pair, then run the migration again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("metering", "0005_hour_marks"),
    ]

    operations = [
        migrations.RunPython(refuse_ties, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="intervalreading", name="interval_reading_point_time"),
        migrations.AddConstraint(
            model_name="intervalreading",
            constraint=models.UniqueConstraint(
                fields=("point", "read_at"), name="interval_reading_point_time"
            ),
        ),
    ]
