"""Contact's foreign keys to its lead, source and operator lose the index Django gives each
one: crm_contact_lead_idx, _source_idx and _operator_idx lead with the same columns and
serve every lookup by them (the keys' checks on delete included), so every intake paid the
upkeep of three indexes no plan needed. The indexes are dropped by name (the same on
PostgreSQL and SQLite) rather than through AlterField, which on SQLite copies the whole
table once per field."""

import django.db.models.deletion
from django.db import migrations, models

# The names Django gave them (schema_editor._create_index_name): the same on both databases.
INDEXES = {
    "crm_contact_lead_id_8c7475e8": "lead_id",
    "crm_contact_operator_id_b116b255": "operator_id",
    "crm_contact_source_id_d9b45a28": "source_id",
}


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0015_lead_gin_pending_list_limit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"', f'CREATE INDEX "{name}" ON "crm_contact" ("{column}")'
                )
                for name, column in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="contacts",
                        to="crm.lead",
                        verbose_name="lead",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="operator",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="contacts",
                        to="crm.operator",
                        verbose_name="operator",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="contacts",
                        to="crm.source",
                        verbose_name="source",
                    ),
                ),
            ],
        ),
    ]
