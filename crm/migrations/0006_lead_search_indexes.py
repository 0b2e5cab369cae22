"""Lead search indexes on PostgreSQL: trigram GIN indexes (pg_trgm) on the external id, phone and
email, a full-text GIN index on the name's words; nothing elsewhere.

The indexes are in the models' state everywhere (so `makemigrations` stays quiet on every
database), but created only on PostgreSQL: SQLite has neither GIN nor pg_trgm, and its
search stays a table scan (the embedded database is for small installations). pg_trgm is a
trusted extension (PostgreSQL 13+): the database owner may create it without superuser."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


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
        ("crm", "0005_lead_profile_contact_message"),
    ]

    operations = [
        # CREATE EXTENSION IF NOT EXISTS pg_trgm (Django skips it on other databases).
        TrigramExtension(),
        PostgresOnlyAddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(fields=['external_id'], name='crm_lead_external_id_trgm', opclasses=['gin_trgm_ops']),
        ),
        PostgresOnlyAddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('name_search', config='simple'), name='crm_lead_name_fts'),
        ),
        PostgresOnlyAddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(fields=['phone'], name='crm_lead_phone_trgm', opclasses=['gin_trgm_ops']),
        ),
        PostgresOnlyAddIndex(
            model_name='lead',
            index=django.contrib.postgres.indexes.GinIndex(fields=['email'], name='crm_lead_email_trgm', opclasses=['gin_trgm_ops']),
        ),
    ]
