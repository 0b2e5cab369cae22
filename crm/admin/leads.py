"""Leads: read-only; they come from contacts. A lead's page lists its latest contacts."""

from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS
from crm.errors import DomainError
from crm.models import Lead, Operator, Source
from crm.selectors import LEAD_RECENT_CONTACTS, lead_get_with_recent_contacts
from crm.services.leads import lead_normalise_external_id


def normalised_external_id(term: str) -> str | None:
    """A search term as the API would store it, or None when it could not be an external id."""
    try:
        return lead_normalise_external_id(term)
    except DomainError:
        return None


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    verbose_name_accusative = pgettext_lazy("accusative", "lead")
    list_display = ["external_id", "created_at", "contacts_link"]
    search_fields = ["external_id"]
    search_help_text = _("External id, as the bots send it: case and surrounding spaces do not matter.")
    fields = ["external_id", "created_at", "recent_contacts"]
    readonly_fields = ["external_id", "created_at", "recent_contacts"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    class Media:
        css = CSS

    def has_add_permission(self, request):
        return False  # leads come from contacts (API or bots)

    def has_change_permission(self, request, obj=None):
        return False  # the external id is the lead's identity

    def has_delete_permission(self, request, obj=None):
        return False  # contacts keep their lead

    def get_search_results(self, request, queryset, search_term):
        # Normalised as the API does, so "  User@Example.COM " finds user@example.com.
        term = normalised_external_id(search_term)
        if term is None:
            return queryset, False
        return queryset.filter(external_id__contains=term), False

    @admin.display(description=_("contacts"))
    def contacts_link(self, obj):
        url = reverse("admin:crm_contact_changelist") + f"?lead__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, gettext("contacts"))

    @admin.display(description=_("contacts (latest first)"))
    def recent_contacts(self, obj):
        lead = lead_get_with_recent_contacts(lead_id=obj.pk)
        contacts = lead.recent_contacts if lead else []
        if not contacts:
            return gettext("none")
        sources = dict(Source.objects.filter(pk__in={c.source_id for c in contacts}).values_list("pk", "name"))
        operator_ids = {c.operator_id for c in contacts if c.operator_id}
        operators = dict(Operator.objects.filter(pk__in=operator_ids).values_list("pk", "name"))
        rows = [
            {
                "pk": c.pk,
                "source": sources.get(c.source_id, c.source_id),
                "operator": operators.get(c.operator_id, "") if c.operator_id else None,
                "status": c.get_status_display(),
                "created": c.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for c in contacts
        ]
        return render_to_string(
            "admin/crm/lead/recent_contacts.html",
            {
                "rows": rows,
                "all_url": reverse("admin:crm_contact_changelist") + f"?lead__id__exact={obj.pk}",
                "more": len(contacts) >= LEAD_RECENT_CONTACTS,
            },
        )
