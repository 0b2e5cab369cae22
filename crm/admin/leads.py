"""Leads: read-only; they come from contacts. A lead's page shows his profile (to whoever may
see it: crm.selectors.lead_profile_visible) and his latest contacts; the action "Erase personal
data" erases a lead's profile and messages through crm.services.lead_erasure.lead_erase."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS
from crm.errors import DomainError
from crm.models import Lead, Operator, Source
from crm.selectors import LEAD_RECENT_CONTACTS, lead_get_with_recent_contacts, lead_profile_visible, lead_search
from crm.services.lead_erasure import lead_erase
from crm.services.leads import lead_normalise_external_id

PROFILE_FIELDS = ["name", "phone", "email"]


def normalised_external_id(term: str) -> str | None:
    """A search term as the API would store it, or None when it could not be an external id."""
    try:
        return lead_normalise_external_id(term)
    except DomainError:
        return None


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    verbose_name_accusative = pgettext_lazy("accusative", "lead")
    list_display = ["external_id", *PROFILE_FIELDS, "created_at", "last_seen_at", "contacts_link"]
    search_fields = ["external_id"]  # shows the search box; the search itself is lead_search
    search_help_text = _(
        "External id, name, phone or email. Case does not matter; a phone may be typed in any usual "
        "format; a name is found by the beginnings of its words."
    )
    fields = ["external_id", *PROFILE_FIELDS, "created_at", "last_seen_at", "erased_at", "recent_contacts"]
    readonly_fields = fields
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["erase_personal_data"]

    class Media:
        css = CSS

    def has_add_permission(self, request):
        return False  # leads come from contacts (API or bots)

    def has_change_permission(self, request, obj=None):
        return False  # the external id is the lead's identity; the profile comes from contacts

    def has_delete_permission(self, request, obj=None):
        return False  # contacts keep their lead

    def has_erase_permission(self, request):
        """Erasing a lead's personal data is the closest thing to deleting him: the same permission."""
        return request.user.has_perm("crm.delete_lead")

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if not lead_profile_visible(user=request.user):
            columns = [c for c in columns if c not in PROFILE_FIELDS]
        return columns

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not lead_profile_visible(user=request.user, lead=obj):
            fields = [f for f in fields if f not in PROFILE_FIELDS]
        if obj is not None and obj.erased_at is None:
            fields.remove("erased_at")
        return fields

    def get_search_results(self, request, queryset, search_term):
        # The API's search (crm.selectors.lead_search): one rule, the same indexes.
        if not search_term.strip():
            return queryset, False
        if not lead_profile_visible(user=request.user):
            term = normalised_external_id(search_term)  # no profile: the external id only
            return (queryset.filter(external_id__contains=term) if term else queryset.none()), False
        return lead_search(queryset, search_term), False

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
        # The messages belong to the profile: shown only where the profile is (get_fields).
        show_messages = getattr(obj, "_crm_profile_visible", False)
        rows = [
            {
                "pk": c.pk,
                "source": sources.get(c.source_id, c.source_id),
                "operator": operators.get(c.operator_id, "") if c.operator_id else None,
                "status": c.get_status_display(),
                "created": c.created_at.strftime("%Y-%m-%d %H:%M"),
                "message": c.message if show_messages else None,
            }
            for c in contacts
        ]
        return render_to_string(
            "admin/crm/lead/recent_contacts.html",
            {
                "rows": rows,
                "show_messages": show_messages,
                "all_url": reverse("admin:crm_contact_changelist") + f"?lead__id__exact={obj.pk}",
                "more": len(contacts) >= LEAD_RECENT_CONTACTS,
            },
        )

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # recent_contacts is rendered without the request; it reads the verdict here.
            obj._crm_profile_visible = lead_profile_visible(user=request.user, lead=obj)
        return obj

    @admin.action(description=_("Erase personal data"), permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        """After a confirmation page: erase each selected lead in its own transaction."""
        leads = list(queryset.filter(erased_at__isnull=True).order_by("id"))
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/crm/lead/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": gettext("Erase personal data?"),
                    "opts": self.opts,
                    "leads": leads,
                    "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                    "action": "erase_personal_data",
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        if not self.has_erase_permission(request):
            raise PermissionDenied
        erased = 0
        for lead in leads:
            try:
                lead_erase(lead_id=lead.pk, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message_for(request.user), messages.ERROR)
            else:
                erased += 1
        self.message_user(
            request,
            ngettext("Erased the personal data of %(n)d lead.", "Erased the personal data of %(n)d leads.", erased)
            % {"n": erased},
            messages.SUCCESS,
        )
        return None
