"""The lead search's GIN indexes keep a pending list of at most 64 kB instead of the server's
4 MB (crm.models.leads.Lead.Meta says why). A storage parameter, so the index is altered in
place (ALTER INDEX ... SET), not rebuilt; on PostgreSQL only, as in 0006_lead_search_indexes."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations

INDEXES = ("crm_lead_external_id_trgm", "crm_lead_name_fts")


def _alter(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for name in INDEXES:
                schema_editor.execute(sql.format(name=schema_editor.quote_name(name)))

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0014_api_key_proxy_routing_change_choices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(
                    _alter("ALTER INDEX {name} SET (gin_pending_list_limit = 64)"),
                    _alter("ALTER INDEX {name} RESET (gin_pending_list_limit)"),
                ),
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="lead", name="crm_lead_external_id_trgm"),
                migrations.RemoveIndex(model_name="lead", name="crm_lead_name_fts"),
                migrations.AddIndex(
                    model_name="lead",
                    index=django.contrib.postgres.indexes.GinIndex(
                        fields=["external_id"],
                        gin_pending_list_limit=64,
                        name="crm_lead_external_id_trgm",
                        opclasses=["gin_trgm_ops"],
                    ),
                ),
                migrations.AddIndex(
                    model_name="lead",
                    index=django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.search.SearchVector("name_search", config="simple"),
                        gin_pending_list_limit=64,
                        name="crm_lead_name_fts",
                    ),
                ),
            ],
        ),
    ]
