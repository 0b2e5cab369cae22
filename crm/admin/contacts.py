"""Contacts: registered by bots, never edited by hand. Staff close and reassign them (one at a
time from a contact's page, or in bulk from the list), always through crm.services.contacts."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS, event_details, render_decision, short_datetime
from crm.admin.leads import normalised_external_id
from crm.errors import DomainError
from crm.models import CONTACT_WAITING, Contact, Operator
from crm.selectors import contact_events, contact_lead_search_condition, contact_reassign_targets, lead_profile_visible
from crm.services.contacts import contact_close, contact_reassign

# What the lead told us, shown where the lead's profile may be seen (crm.selectors.lead_profile_visible).
PROFILE_FIELDS = ["lead_profile", "message", "metadata_display"]


class WaitingFilter(admin.SimpleListFilter):
    title = _("waiting for an operator")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [("yes", _("yes: open, no operator")), ("no", _("no"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(CONTACT_WAITING)
        if self.value() == "no":
            return queryset.exclude(CONTACT_WAITING)
        return queryset


class OperatorFilter(admin.RelatedFieldListFilter):
    """By operator; the contacts without one are named, not shown as a bare "-"."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.empty_value_display = _("no operator")


class ContactActionForm(helpers.ActionForm):
    """The actions bar of the contacts list, with the operator the "reassign" action uses."""

    operator = forms.ModelChoiceField(
        queryset=Operator.objects.order_by("name"),
        required=False,
        label=_("Operator:"),
        empty_label=_("by routing"),
    )


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "source", "operator_display", "status", "created_display", "closed_display"]
    list_display_links = ["id", "lead"]
    list_filter = ["status", WaitingFilter, "source", ("operator", OperatorFilter), "unassigned_reason"]
    list_select_related = ["lead", "source", "operator"]
    date_hierarchy = "created_at"
    search_fields = ["lead__external_id"]
    search_help_text = _(
        "The lead's external id, name, phone or email (as on the leads page), or a contact number such as #42."
    )
    raw_id_fields = ["lead", "operator"]
    fields = [
        "lead",
        "lead_profile",
        "message",
        "metadata_display",
        "source",
        "operator",
        "status",
        "unassigned_reason",
        "created_at",
        "closed_at",
        "decision",
        "timeline",
    ]
    readonly_fields = fields
    actions = ["close_contacts", "reassign_contacts"]
    action_form = ContactActionForm
    list_per_page = 100
    # Counting a large table on every page view is the slow part of a changelist.
    show_full_result_count = False

    class Media:
        css = CSS

    def has_add_permission(self, request):
        return False  # contacts are registered by bots through the API

    def has_change_permission(self, request, obj=None):
        # The list's actions need the permission; a contact's fields are never edited by hand.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # history

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is None or not lead_profile_visible(user=request.user, lead=obj.lead):
            fields = [f for f in fields if f not in PROFILE_FIELDS]
        return fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        number = term.lstrip("#")
        if number.isdigit():
            condition |= Q(pk=int(number))
        if lead_profile_visible(user=request.user):
            # The leads' search (crm.selectors.lead_search): external id, name, phone, email.
            condition |= contact_lead_search_condition(term)
        else:
            normalised = normalised_external_id(term)
            if normalised is not None:
                condition |= Q(lead__external_id__contains=normalised)
        return queryset.filter(condition), False

    @admin.display(description=_("lead's profile"))
    def lead_profile(self, obj):
        lead = obj.lead
        parts = [value for value in (lead.name, lead.phone, lead.email) if value]
        return " · ".join(parts) if parts else gettext("none")

    @admin.display(description=_("metadata"))
    def metadata_display(self, obj):
        if not obj.metadata:
            return gettext("none")
        return format_html_join(
            "", "<div><code>{}</code>: {}</div>", ((key, value) for key, value in sorted(obj.metadata.items()))
        )

    @admin.display(description=_("operator"), ordering="operator__name")
    def operator_display(self, obj):
        if obj.operator_id is None:
            if obj.status == Contact.Status.OPEN:
                return format_html(
                    '<span class="crm-badge crm-waiting" title="{}">{}</span>',
                    obj.get_unassigned_reason_display(),
                    gettext("waiting"),
                )
            return "—"
        return obj.operator.name

    # Short dates ("27.11.2026 01:26"): the long form pushes the list past 1400 px in Russian.
    @admin.display(description=_("created"), ordering="created_at")
    def created_display(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("closed"), ordering="closed_at")
    def closed_display(self, obj):
        return short_datetime(obj.closed_at)

    @admin.display(description=_("assignment decision"))
    def decision(self, obj):
        return render_decision(obj.assignment)

    @admin.display(description=_("timeline"))
    def timeline(self, obj):
        events = contact_events(contact_id=obj.pk).select_related("operator")
        rows = [(event, event_details(event.data)) for event in events]
        return render_to_string("admin/crm/contact/timeline.html", {"rows": rows})

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name=f"{info[0]}_{info[1]}_close",
            ),
            path(
                "<path:object_id>/reassign/",
                self.admin_site.admin_view(self.reassign_view),
                name=f"{info[0]}_{info[1]}_reassign",
            ),
            *super().get_urls(),
        ]

    def _object_action(self, request, object_id, fn, done_message):
        """The buttons on a contact's page: POST only, change permission, one service call."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            contact = fn(int(object_id))
        except DomainError as exc:
            self.message_user(request, exc.message_for(request.user), messages.ERROR)
        except ValueError:
            return HttpResponseRedirect(reverse("admin:crm_contact_changelist"))
        else:
            self.message_user(request, done_message(contact), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:crm_contact_change", args=[object_id]))

    def close_view(self, request, object_id):
        return self._object_action(
            request,
            object_id,
            lambda pk: contact_close(contact_id=pk, actor=request.user),
            lambda c: gettext("Contact #%(id)d is closed.") % {"id": c.pk},
        )

    def reassign_view(self, request, object_id):
        raw = request.POST.get("operator_id") or ""
        operator_id = int(raw) if raw.isdigit() else None
        return self._object_action(
            request,
            object_id,
            lambda pk: contact_reassign(contact_id=pk, operator_id=operator_id, actor=request.user),
            _reassigned_message,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        can_change = super().has_change_permission(request)
        extra = {"can_close": can_change, "reassign_operators": []}
        row = (
            Contact.objects.filter(pk=object_id).values("source_id", "operator_id", "status").first()
            if (str(object_id).isdigit())
            else None
        )
        extra["contact_is_open"] = bool(row) and row["status"] == Contact.Status.OPEN
        if can_change and extra["contact_is_open"]:
            # Exactly the operators the reassign service would accept (one rule, one selector).
            extra["reassign_operators"] = contact_reassign_targets(
                source_id=row["source_id"], current_operator_id=row["operator_id"]
            )
            extra["can_reassign"] = True
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description=_("Close selected contacts"), permissions=["change"])
    def close_contacts(self, request, queryset):
        closed, errors = 0, []
        for contact_id in queryset.filter(status=Contact.Status.OPEN).values_list("pk", flat=True):
            try:
                contact_close(contact_id=contact_id, actor=request.user)
                closed += 1
            except DomainError as exc:
                errors.append(exc.message_for(request.user))
        text = ngettext("%(n)d contact closed.", "%(n)d contacts closed.", closed) % {"n": closed}
        self.message_user(request, text, messages.SUCCESS)
        for message in errors:
            self.message_user(request, message, messages.ERROR)

    @admin.action(
        description=_("Reassign selected open contacts (to the operator chosen on the right, or by routing)"),
        permissions=["change"],
    )
    def reassign_contacts(self, request, queryset):
        form = ContactActionForm(request.POST)
        form.fields["action"].choices = self.get_action_choices(request)
        operator = form.cleaned_data.get("operator") if form.is_valid() else None
        moved, errors = 0, []
        for contact_id in queryset.filter(status=Contact.Status.OPEN).values_list("pk", flat=True):
            try:
                contact_reassign(
                    contact_id=contact_id, operator_id=operator.pk if operator else None, actor=request.user
                )
                moved += 1
            except DomainError as exc:
                errors.append(f"#{contact_id}: {exc.message_for(request.user)}")
        text = ngettext("%(n)d contact reassigned.", "%(n)d contacts reassigned.", moved) % {"n": moved}
        self.message_user(request, text, messages.SUCCESS if moved else messages.WARNING)
        for message in errors:
            self.message_user(request, message, messages.ERROR)


def _reassigned_message(contact: Contact) -> str:
    if contact.operator_id is None:
        return gettext("Contact #%(id)d is waiting for an operator.") % {"id": contact.pk}
    name = Operator.objects.filter(pk=contact.operator_id).values_list("name", flat=True).first()
    return gettext("Contact #%(id)d is now with %(operator)s.") % {"id": contact.pk, "operator": name}
