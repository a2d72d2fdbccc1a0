from django.db import migrations, models


def mark_policy_commands(apps, schema_editor):
    """Before this field, the policy's relay commands were the ones queued without a key.

    Console commands always carry a key; an API command sent without one is
    taken for the policy's, which at worst lets the policy decide its relay again.
    """
    Command = apps.get_model("control", "Command")
    Command.objects.filter(kind__in=["trip", "close"], idempotency_key__isnull=True).update(
        by_policy=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("control", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="command",
            name="by_policy",
            field=models.BooleanField(default=False, verbose_name="queued by the prepaid policy"),
        ),
        migrations.RunPython(mark_policy_commands, migrations.RunPython.noop),
    ]
