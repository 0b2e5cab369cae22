"""Lead search indexes on PostgreSQL: a trigram GIN index (pg_trgm) on the external id, a
full-text GIN index on the name's words, B-trees in pattern order for the beginnings of names,
emails and phones and the ends of phones; nothing elsewhere.

The indexes are in the models' state everywhere (so `makemigrations` stays quiet on every
database), but created only on PostgreSQL: SQLite has neither GIN, pg_trgm nor operator classes, and its
search stays a table scan (the embedded database is for small installations). pg_trgm is a
trusted extension (PostgreSQL 13+): the database owner may create it without superuser."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class PostgresOnlyAddIndex(migrations.AddIndex):
    """AddIndex that touches the database only on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0006_lead_profile_contact_message"),
    ]

    operations = [
        # CREATE EXTENSION IF NOT EXISTS pg_trgm (Django skips it on other databases).
        TrigramExtension(),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["external_id"], name="crm_lead_external_id_trgm", opclasses=["gin_trgm_ops"]
            ),
        ),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector("name_search", config="simple"), name="crm_lead_name_fts"
            ),
        ),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=models.Index(fields=["name_search"], name="crm_lead_name_prefix", opclasses=["text_pattern_ops"]),
        ),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=models.Index(fields=["email"], name="crm_lead_email_prefix", opclasses=["varchar_pattern_ops"]),
        ),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=models.Index(fields=["phone"], name="crm_lead_phone_prefix", opclasses=["varchar_pattern_ops"]),
        ),
        PostgresOnlyAddIndex(
            model_name="lead",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Reverse("phone"), name="text_pattern_ops"
                ),
                name="crm_lead_phone_suffix",
            ),
        ),
    ]
