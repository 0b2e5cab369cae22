"""The operator's workspace in the admin: "My contacts" (his open contacts, oldest first, with
the lead's profile and first message), each contact's page with close and transfer, and the
availability switch every page shows (templates/admin/base_site.html, the site's
`availability/` URL).

An operator is a plain user (not staff) whose login is linked to an operator; the admin site
lets him in (minicrm_project/admin.py) but every staff screen refuses him, because he holds
no model permission. What he sees here is narrowed by `get_queryset` to his own contacts, so
another operator's contact is a 404 by URL as well as absent from the list.
"""

from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS, load_bar
from crm.errors import DomainError
from crm.models import Contact, Operator, OperatorContact
from crm.selectors import contact_events, lead_profile_visible, operator_for_user, transfer_targets
from crm.services.contacts import contact_close, contact_transfer


def request_operator(request) -> Operator | None:
    """The operator whose login is browsing (None for staff), read once per request."""
    if not hasattr(request, "_crm_operator"):
        request._crm_operator = operator_for_user(request.user)
    return request._crm_operator


@admin.register(OperatorContact)
class MyContactAdmin(admin.ModelAdmin):
    list_display = ["id", "lead_name", "lead_phone", "lead_email", "first_message", "source", "open_for"]
    list_display_links = ["id", "lead_name"]
    list_select_related = ["lead", "source"]
    fields = ["lead_name", "lead_phone", "lead_email", "first_message", "source", "created_at", "open_for", "timeline"]
    readonly_fields = fields
    actions = ["close_selected"]
    list_per_page = 50
    ordering = ["id"]  # oldest first: his work list
    show_full_result_count = False
    change_list_template = "admin/crm/operatorcontact/change_list.html"
    change_form_template = "admin/crm/operatorcontact/change_form.html"

    class Media:
        css = CSS

    # --- Who may see what: his own open contacts, nothing else --------------------------------

    def has_module_permission(self, request):
        return request_operator(request) is not None

    def has_view_permission(self, request, obj=None):
        operator = request_operator(request)
        return operator is not None and (obj is None or obj.operator_id == operator.pk)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the page is read-only; closing and transferring are its buttons

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        operator = request_operator(request)
        if operator is None:
            return OperatorContact.objects.none()
        # Index crm_contact_open_idx (open contacts of an operator); oldest first, his work list.
        # The status as a literal: the index is partial on it (crm.compiled.LiteralExact).
        return (
            OperatorContact.objects.filter(operator_id=operator.pk, status__literal=Contact.Status.OPEN)
            .select_related("lead", "source")
            .order_by("id")
        )

    # --- Columns -------------------------------------------------------------------------------

    # The profile columns: every row is one of his own contacts, so the visibility rule
    # (crm.selectors.lead_profile_visible) holds for each; the contact's page asks it anyway.

    @admin.display(description=_("lead"))
    def lead_name(self, obj):
        return obj.lead.name or obj.lead.external_id

    @admin.display(description=_("phone"))
    def lead_phone(self, obj):
        return obj.lead.phone or "—"

    @admin.display(description=_("email"))
    def lead_email(self, obj):
        return obj.lead.email or "—"

    @admin.display(description=_("first message"))
    def first_message(self, obj):
        text = obj.message or ""
        return (text[:120] + "…") if len(text) > 120 else (text or "—")

    @admin.display(description=_("open for"), ordering="id")
    def open_for(self, obj):
        return timesince(obj.created_at, timezone.now())

    @admin.display(description=_("timeline"))
    def timeline(self, obj):
        events = contact_events(contact_id=obj.pk).select_related("operator")
        return render_to_string("admin/crm/contact/timeline.html", {"events": events})

    # --- Pages -------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        operator = request_operator(request)
        extra = {}
        if operator is not None:
            operator.refresh_from_db(fields=["open_load", "max_load", "availability"])
            extra = {"crm_load_bar": load_bar(operator.open_load, operator.max_load), "crm_me": operator}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404
        if not lead_profile_visible(user=request.user, lead=obj.lead):
            raise Http404
        extra = {"transfer_targets": transfer_targets(contact=obj)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/close/", self.admin_site.admin_view(self.close_view), name=f"{prefix}_close"),
            path(
                "<path:object_id>/transfer/", self.admin_site.admin_view(self.transfer_view), name=f"{prefix}_transfer"
            ),
            *super().get_urls(),
        ]

    def _own(self, request, object_id):
        if request.method != "POST":
            return None, HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id) if str(object_id).isdigit() else None
        if obj is None:
            raise Http404
        return obj, None

    def close_view(self, request, object_id):
        obj, refusal = self._own(request, object_id)
        if refusal:
            return refusal
        contact_close(contact_id=obj.pk, actor=request.user)
        self.message_user(request, gettext("Contact #%(id)d is closed.") % {"id": obj.pk}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:crm_operatorcontact_changelist"))

    def transfer_view(self, request, object_id):
        obj, refusal = self._own(request, object_id)
        if refusal:
            return refusal
        raw = request.POST.get("operator_id") or ""
        try:
            contact = contact_transfer(
                contact_id=obj.pk,
                operator_id=int(raw) if raw.isdigit() else 0,
                actor=request.user,
                from_operator_id=request_operator(request).pk,
            )
        except DomainError as exc:
            self.message_user(request, exc.message_for(request.user), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:crm_operatorcontact_change", args=[obj.pk]))
        name = Operator.objects.filter(pk=contact.operator_id).values_list("name", flat=True).first()
        self.message_user(
            request,
            gettext("Contact #%(id)d is now with %(operator)s.") % {"id": obj.pk, "operator": name},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:crm_operatorcontact_changelist"))

    @admin.action(description=_("Close selected contacts"))
    def close_selected(self, request, queryset):
        closed = 0
        for contact_id in queryset.values_list("pk", flat=True):
            contact_close(contact_id=contact_id, actor=request.user)
            closed += 1
        text = ngettext("%(n)d contact closed.", "%(n)d contacts closed.", closed) % {"n": closed}
        self.message_user(request, text, messages.SUCCESS)
