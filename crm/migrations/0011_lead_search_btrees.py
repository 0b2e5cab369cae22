"""Lead search, measured at 10^6 leads: emails and phones are searched by their beginnings (and a
phone by its end) on B-trees in pattern order instead of substrings on trigram indexes (the
trigrams of email words are in most rows), and a name by its beginning (a B-tree on
name_search) or its whole words (the full-text index). name_search gains a trailing space
(" anna petrova "), so "has the word w" is LIKE '% w %' on every database.

Indexes on PostgreSQL only, as in 0006_lead_search_indexes."""

import re

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models


def _name_search(name: str) -> str:
    # crm.services.leads.lead_name_search as of this migration.
    words = re.findall(r"[^\W_]+", name.lower())
    return f" {' '.join(words)} " if words else ""


def recompute_name_search(apps, schema_editor):
    Lead = apps.get_model("crm", "Lead")
    batch = []
    for lead in Lead.objects.exclude(name="").only("id", "name").iterator(chunk_size=2000):
        lead.name_search = _name_search(lead.name)
        batch.append(lead)
        if len(batch) >= 2000:
            Lead.objects.bulk_update(batch, ["name_search"])
            batch = []
    if batch:
        Lead.objects.bulk_update(batch, ["name_search"])


class PostgresOnlyAddIndex(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class PostgresOnlyRemoveIndex(migrations.RemoveIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0010_contact_reason_behind_queue"),
    ]

    operations = [
        migrations.RunPython(recompute_name_search, migrations.RunPython.noop),
        PostgresOnlyRemoveIndex(model_name="lead", name="crm_lead_phone_trgm"),
        PostgresOnlyRemoveIndex(model_name="lead", name="crm_lead_email_trgm"),
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
