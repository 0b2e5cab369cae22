from django.db import migrations, models


def unlogged_on_postgresql(apps, schema_editor):
    # Rate-limit state needs no crash safety (after a crash every client simply starts with a
    # full burst again), and an unlogged table spares each request's commit the WAL flush:
    # the throttle's upsert then costs a round trip, not an fsync.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE crm_throttlebucket SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0006_lead_search_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ThrottleBucket",
            fields=[
                (
                    "key",
                    models.CharField(max_length=200, primary_key=True, serialize=False, verbose_name="client and scope"),
                ),
                ("tat", models.FloatField(verbose_name="theoretical arrival time")),
            ],
            options={
                "verbose_name": "rate limit bucket",
                "verbose_name_plural": "rate limit buckets",
            },
        ),
        migrations.RunPython(unlogged_on_postgresql, migrations.RunPython.noop, elidable=True),
    ]
