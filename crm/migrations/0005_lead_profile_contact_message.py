"""The lead's profile (name, phone, email, last seen, erasure) and the contact's message and metadata."""

import django.db.models.functions.text
import django.db.models.lookups
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0004_reliability_security'),
    ]

    operations = [
        migrations.AlterField(
            model_name='lead',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='first seen'),
        ),
        migrations.AddField(
            model_name='contact',
            name='message',
            field=models.TextField(blank=True, default='', verbose_name='message'),
        ),
        migrations.AddField(
            model_name='contact',
            name='metadata',
            field=models.JSONField(blank=True, default=dict, verbose_name='metadata'),
        ),
        migrations.AddField(
            model_name='lead',
            name='email',
            field=models.CharField(blank=True, default='', max_length=254, verbose_name='email'),
        ),
        migrations.AddField(
            model_name='lead',
            name='erased_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='personal data erased'),
        ),
        migrations.AddField(
            model_name='lead',
            name='last_seen_at',
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name='last seen'),
        ),
        migrations.AddField(
            model_name='lead',
            name='name',
            field=models.CharField(blank=True, default='', max_length=200, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='lead',
            name='name_search',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='lead',
            name='phone',
            field=models.CharField(blank=True, default='', max_length=16, verbose_name='phone'),
        ),
        migrations.AddConstraint(
            model_name='contact',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.LessThanOrEqual(django.db.models.functions.text.Length('message'), 4000), name='crm_contact_message_length'),
        ),
        migrations.AddConstraint(
            model_name='lead',
            constraint=models.CheckConstraint(condition=models.Q(('name', django.db.models.functions.text.Trim('name'))), name='crm_lead_name_trimmed'),
        ),
        migrations.AddConstraint(
            model_name='lead',
            constraint=models.CheckConstraint(condition=models.Q(('phone', ''), models.Q(('phone__startswith', '+'), django.db.models.lookups.GreaterThanOrEqual(django.db.models.functions.text.Length('phone'), 4), django.db.models.lookups.LessThanOrEqual(django.db.models.functions.text.Length('phone'), 16)), _connector='OR'), name='crm_lead_phone_e164'),
        ),
        migrations.AddConstraint(
            model_name='lead',
            constraint=models.CheckConstraint(condition=models.Q(('email', django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('email')))), name='crm_lead_email_normalised'),
        ),
        # Existing leads were last seen at their latest contact (their creation if none).
        migrations.RunSQL(
            "UPDATE crm_lead SET last_seen_at = COALESCE("
            "(SELECT MAX(c.created_at) FROM crm_contact AS c WHERE c.lead_id = crm_lead.id), created_at)",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
