"""Staff screens. Every write goes through crm.services, so the admin obeys the same rules as
the API (capacity, locks, queue behaviour): forms here check only shape (types, ranges), the
services decide, and a rule they refuse is shown on the form field it concerns.

How a refusal reaches the form: Django's admin saves inside one transaction. A service that
raises DomainError from `save_model`/`save_formset` is re-raised as `ServiceRejectedError`, which
rolls that transaction back (nothing of the save stays), and `changeform_view` then renders
the same POST once more with the reason attached to the form, so the user's input is kept.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken

from crm.errors import DomainError
from crm.models import (
    MAX_CAPACITY,
    MAX_WEIGHT,
    BotSource,
    Contact,
    IdempotencyKey,
    Lead,
    Operator,
    OperatorSource,
    RoutingChange,
    Source,
)
from crm.selectors import LEAD_RECENT_CONTACTS, lead_get_with_recent_contacts
from crm.services import routing_config
from crm.services.contacts import contact_close, contact_reassign
from crm.services.leads import lead_normalise_external_id

admin.site.site_header = _("minicrm staff workspace")
admin.site.site_title = _("minicrm")
admin.site.index_title = _("Routing set-up and daily work")

CSS = {"all": ["crm/admin.css"]}


def _percent(part: int, total: int, *, sign: bool = True) -> str:
    """75.0 % in English, 75,0 % in Russian."""
    value = number_format(round(100 * part / total, 1), 1)
    return f"{value} %" if sign else value


# --- services → forms ---------------------------------------------------------------------


class ServiceRejectedError(Exception):
    """A service refused a save made from an admin form. `inline` is None for the main form,
    else the inline formset's prefix the refused row belongs to."""

    def __init__(self, error: DomainError, message: str, *, inline: str | None = None):
        super().__init__(message)
        self.error = error
        self.message = message
        self.inline = inline


class ServiceFormMixin:
    """A model form that can carry a service's refusal from the previous attempt."""

    service_error: ServiceRejectedError | None = None

    def clean(self):
        cleaned = super().clean()
        if self.service_error is not None:
            field = self.service_error.error.field
            self.add_error(field if field in self.fields else None, self.service_error.message)
        return cleaned

    def _get_validation_exclusions(self):
        # Uniqueness of names is the service's rule (case-insensitive, with a message that
        # says so); the model's own check would add a second, cryptic "constraint violated".
        exclusions = super()._get_validation_exclusions()
        exclusions.add("name")
        return exclusions


class ServiceFormSetMixin:
    service_error: ServiceRejectedError | None = None

    def clean(self):
        super().clean()
        if self.service_error is not None:
            raise ValidationError(self.service_error.message)


class NulSafeSearchMixin:
    """PostgreSQL text cannot hold NUL: a search term with one (admin search, or the
    autocomplete widgets' `term`) would reach the database and fail with a 500. Drop it."""

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))


class ServiceAdminMixin:
    """Re-render a refused save with the service's reason (see the module docstring)."""

    # (field, code) → a translated message; services speak English, the admin the user's language.
    service_messages: dict = {}

    def service_message(self, error: DomainError, obj=None) -> str:
        message = self.service_messages.get((error.field, error.code))
        if callable(message):
            return message(error, obj)
        return str(message) if message else error.message

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            if request.method != "POST":
                return super().changeform_view(request, object_id, form_url, extra_context)
            with transaction.atomic():
                # One save may call several services (the object, then each inline row), each
                # locking a different set of operators; two such rounds in one transaction
                # could take locks out of id order and deadlock with an intake. So a save
                # first locks every operator row, in id order (a few milliseconds of
                # waiting for the intakes; staff saves are rare): every later lock is held.
                list(Operator.objects.order_by("id").select_for_update(no_key=True).values_list("id", flat=True))
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRejectedError as rejected:
            # The admin's transaction has been rolled back by the exception: render the same
            # POST again; this time the form (or the formset) carries the reason and is invalid.
            request._crm_service_rejected = rejected
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        rejected = getattr(request, "_crm_service_rejected", None)
        if rejected is not None and rejected.inline is None:
            form = type(form.__name__, (form,), {"service_error": rejected})
        return form

    def call_service(self, request, fn, *, obj=None, inline=None, **kwargs):
        if fn.__module__ == routing_config.__name__:
            kwargs.setdefault("actor", request.user)  # the routing history names who did it
        try:
            return fn(**kwargs)
        except DomainError as exc:
            raise ServiceRejectedError(exc, self.service_message(exc, obj), inline=inline) from exc


class LinkFormSet(ServiceFormSetMixin, BaseInlineFormSet):
    pass


class LinkInlineForm(ServiceFormMixin, forms.ModelForm):
    weight = forms.IntegerField(
        label=capfirst(_("weight")),
        min_value=0,
        max_value=MAX_WEIGHT,
        initial=10,
        help_text=_("0 keeps the link but pauses it."),
    )

    class Meta:
        model = OperatorSource
        fields = ["operator", "source", "weight"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # An existing link changes only its weight; to move it, delete it and add another.
            for name in ("operator", "source"):
                field = self.fields.get(name)
                if field is not None and not isinstance(field, forms.models.InlineForeignKeyField):
                    field.disabled = True


class OperatorSourceInline(admin.TabularInline):
    """The weights, edited from either side. Saved through routing_config.link_* by the
    parent admin's `save_formset`, never by the formset itself."""

    model = OperatorSource
    form = LinkInlineForm
    formset = LinkFormSet
    extra = 1
    readonly_fields = ["share"]
    verbose_name = _("operator weight")
    verbose_name_plural = _("operator weights")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        rejected = getattr(request, "_crm_service_rejected", None)
        if rejected is not None and rejected.inline == formset.get_default_prefix():
            formset = type(formset.__name__, (formset,), {"service_error": rejected})
        return formset

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("operator", "source")

    @admin.display(description=_("share"))
    def share(self, obj):
        """weight / sum of the source's weights, as staff think of it: "a third of the bot"."""
        if not obj or not obj.pk:
            return "—"
        total = self._source_totals(obj).get(obj.source_id, 0)
        return _percent(obj.weight, total) if total else "—"

    def _source_totals(self, obj) -> dict[int, int]:
        # Inline instances live for one request: the sums of every source on the page are
        # read once, in one query, instead of once per row.
        if not hasattr(self, "_totals"):
            parent_links = OperatorSource.objects.filter(**{self.fk_name: getattr(obj, f"{self.fk_name}_id")})
            self._totals = dict(
                OperatorSource.objects.filter(source_id__in=Subquery(parent_links.values("source_id")))
                .values("source_id")
                .annotate(total=Sum("weight"))
                .values_list("source_id", "total")
                .order_by()
            )
        return self._totals


class SourceWeightInline(OperatorSourceInline):
    """On the operator's page: the sources he serves."""

    fk_name = "operator"
    fields = ["source", "weight", "share"]
    autocomplete_fields = ["source"]
    verbose_name = _("source served")
    verbose_name_plural = _("sources served (weights)")


class OperatorWeightInline(OperatorSourceInline):
    """On the source's page: who works this bot, and with what weight."""

    fk_name = "source"
    fields = ["operator", "weight", "share"]
    autocomplete_fields = ["operator"]
    verbose_name = _("operator")
    verbose_name_plural = _("operators (weights)")


class LinksSavedByServicesMixin(ServiceAdminMixin):
    """`save_formset` for the weights inline: every row through routing_config.link_*."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not OperatorSource:
            return super().save_formset(request, form, formset, change)
        parent = formset.instance
        prefix = formset.prefix
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.deleted_forms:
            if row.instance.pk:
                self.call_service(request, routing_config.link_delete, inline=prefix, link_id=row.instance.pk)
                formset.deleted_objects.append(row.instance)
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed():
                continue
            weight = row.cleaned_data["weight"]
            if row.instance.pk:
                link = self.call_service(
                    request, routing_config.link_update, inline=prefix, link_id=row.instance.pk, weight=weight
                )
                formset.changed_objects.append((link, ["weight"]))
            else:
                other = row.cleaned_data["source" if isinstance(parent, Operator) else "operator"]
                if isinstance(parent, Operator):
                    ids = {"operator_id": parent.pk, "source_id": other.pk}
                else:
                    ids = {"operator_id": other.pk, "source_id": parent.pk}
                link = self.call_service(request, routing_config.link_create, inline=prefix, weight=weight, **ids)
                formset.new_objects.append(link)
        return None


LINK_MESSAGES = {
    ("non_field_errors", "unique"): _(
        "This operator already serves this source; change the weight of the existing row instead."
    ),
}


# --- operators ------------------------------------------------------------------------------


class OperatorAdminForm(ServiceFormMixin, forms.ModelForm):
    max_load = forms.IntegerField(
        label=capfirst(_("max load")),
        min_value=0,
        max_value=MAX_CAPACITY,
        initial=10,
        help_text=_("How many open contacts the operator may hold at once."),
    )

    redistribute = forms.BooleanField(
        label=_("Hand his open contacts to the others"),
        required=False,
        help_text=_(
            "Only when deactivating: his open contacts go back to the waiting queue (oldest first) "
            "and to the other operators of their sources as far as they have room."
        ),
    )

    class Meta:
        model = Operator
        fields = ["name", "is_active", "max_load"]


def _below_load_message(error: DomainError, obj) -> str:
    if obj is None or obj.pk is None:
        return error.message
    load = Operator.objects.filter(pk=obj.pk).values_list("open_load", flat=True).first() or 0
    return gettext(
        "%(name)s has %(load)d open contacts; max load cannot be lower than %(load)d. Close or reassign contacts first."
    ) % {"name": obj.name, "load": load}


class LoadFilter(admin.SimpleListFilter):
    title = _("load")
    parameter_name = "load"

    def lookups(self, request, model_admin):
        return [("full", _("full")), ("room", _("has room")), ("idle", _("no open contacts"))]

    def queryset(self, request, queryset):
        if self.value() == "full":
            return queryset.filter(open_load__gte=F("max_load"))
        if self.value() == "room":
            return queryset.filter(open_load__lt=F("max_load"))
        if self.value() == "idle":
            return queryset.filter(open_load=0)
        return queryset


def load_bar(open_load: int, max_load: int):
    """ "7 / 10" with a small bar; red when full, amber from 80 %."""
    ratio = open_load / max_load if max_load else 1.0
    level = "crm-full" if open_load >= max_load else ("crm-high" if ratio >= 0.8 else "")
    return format_html(
        '<span class="crm-load" title="{}"><span class="crm-bar {}"><span style="width: {}%"></span></span>'
        "<span>{} / {}</span></span>",
        gettext("open contacts / max load"),
        level,
        min(100, round(100 * ratio)),
        open_load,
        max_load,
    )


@admin.register(Operator)
class OperatorAdmin(NulSafeSearchMixin, LinksSavedByServicesMixin, admin.ModelAdmin):
    form = OperatorAdminForm
    list_display = ["name", "is_active", "load_display", "sources_display"]
    list_display_links = ["name"]
    list_filter = ["is_active", LoadFilter, ("links__source", admin.RelatedFieldListFilter)]
    search_fields = ["name"]
    ordering = ["name"]
    readonly_fields = ["open_load", "created_at"]
    inlines = [SourceWeightInline]
    actions = ["activate", "deactivate", "deactivate_and_redistribute"]
    list_per_page = 50
    show_full_result_count = False
    service_messages = {
        **LINK_MESSAGES,
        ("max_load", "below_current_load"): _below_load_message,
        ("redistribute", "invalid"): _("Open contacts are handed to the others only when deactivating."),
        ("name", "unique"): _("An operator with this name already exists (names are compared ignoring case)."),
        ("name", "blank"): _("The name may not be blank."),
    }

    class Media:
        css = CSS

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "is_active", "max_load"]
        return ["name", "is_active", "redistribute", "max_load", "open_load", "created_at"]

    def get_queryset(self, request):
        # The sources column: one prefetch query per page, whatever the number of rows.
        return super().get_queryset(request).prefetch_related("links__source")

    def has_delete_permission(self, request, obj=None):
        # Contacts keep their operator (history); deactivate instead, as in the API.
        return False

    @admin.display(description=_("load"), ordering="open_load")
    def load_display(self, obj):
        return load_bar(obj.open_load, obj.max_load)

    @admin.display(description=_("sources served"))
    def sources_display(self, obj):
        links = sorted(obj.links.all(), key=lambda link: link.source.name.lower())
        if not links:
            return format_html('<span class="crm-muted">{}</span>', gettext("none"))
        return format_html_join(", ", "{} ({})", ((link.source.name, link.weight) for link in links))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            self.call_service(
                request,
                routing_config.operator_update,
                obj=obj,
                operator_id=obj.pk,
                name=data["name"],
                is_active=data["is_active"],
                max_load=data["max_load"],
                redistribute=data.get("redistribute", False),
            )
        else:
            saved = self.call_service(
                request,
                routing_config.operator_create,
                obj=obj,
                name=data["name"],
                is_active=data["is_active"],
                max_load=data["max_load"],
            )
            _adopt(obj, saved)

    def _set_active(self, request, queryset, active: bool, *, redistribute: bool = False) -> None:
        done, errors = 0, []
        for operator_id in queryset.values_list("pk", flat=True):
            try:
                routing_config.operator_update(
                    operator_id=operator_id, is_active=active, redistribute=redistribute, actor=request.user
                )
                done += 1
            except DomainError as exc:
                errors.append(exc.message)
        if active:
            text = ngettext("%(n)d operator activated.", "%(n)d operators activated.", done)
        else:
            text = ngettext("%(n)d operator deactivated.", "%(n)d operators deactivated.", done)
        self.message_user(request, text % {"n": done}, messages.SUCCESS)
        for message in errors:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description=_("Activate selected operators"), permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(
        description=_("Deactivate selected operators (their open contacts stay with them)"), permissions=["change"]
    )
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(
        description=_("Deactivate selected operators and hand their open contacts to the others"),
        permissions=["change"],
    )
    def deactivate_and_redistribute(self, request, queryset):
        waiting_before = Contact.objects.filter(status=Contact.Status.OPEN, operator__isnull=True).count()
        self._set_active(request, queryset, False, redistribute=True)
        waiting = Contact.objects.filter(status=Contact.Status.OPEN, operator__isnull=True).count()
        if waiting > waiting_before:
            self.message_user(
                request,
                ngettext(
                    "%(n)d more contact is waiting: the other operators have no room for it.",
                    "%(n)d more contacts are waiting: the other operators have no room for them.",
                    waiting - waiting_before,
                )
                % {"n": waiting - waiting_before},
                messages.WARNING,
            )


def _adopt(obj, saved) -> None:
    """Make the admin's unsaved instance stand for the row a service created."""
    obj.pk = saved.pk
    obj.name = saved.name
    obj._state.adding = False
    obj._state.db = saved._state.db


# --- sources --------------------------------------------------------------------------------


class SourceAdminForm(ServiceFormMixin, forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "strategy", "affinity"]


@admin.register(Source)
class SourceAdmin(NulSafeSearchMixin, LinksSavedByServicesMixin, admin.ModelAdmin):
    form = SourceAdminForm
    list_display = ["name", "weights_display", "waiting_display", "strategy", "affinity"]
    search_fields = ["name"]
    ordering = ["name"]
    fields = ["name", "strategy", "affinity", "created_at"]
    readonly_fields = ["created_at"]
    list_filter = ["strategy", "affinity"]
    inlines = [OperatorWeightInline]
    list_per_page = 50
    show_full_result_count = False
    service_messages = {
        **LINK_MESSAGES,
        ("name", "unique"): _("A source with this name already exists (names are compared ignoring case)."),
        ("name", "blank"): _("The name may not be blank."),
    }

    class Media:
        css = CSS

    def get_queryset(self, request):
        # Weights and waiting counts for a page in two queries, however many rows. The waiting
        # count is a correlated subquery (served by the partial "waiting" index), not a JOIN
        # with GROUP BY, so the list's COUNT(*) never touches the contacts table.
        waiting = (
            Contact.objects.filter(source=OuterRef("pk"), status=Contact.Status.OPEN, operator__isnull=True)
            .order_by()
            .values("source")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("links__operator")
            .annotate(waiting=Coalesce(Subquery(waiting), 0))
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("operators: weight and share"))
    def weights_display(self, obj):
        links = sorted(obj.links.all(), key=lambda link: (-link.weight, link.operator.name.lower()))
        if not links:
            return format_html('<span class="crm-muted">{}</span>', gettext("no operators"))
        total = sum(link.weight for link in links)
        return format_html(
            '<ul class="crm-weights">{}</ul>',
            format_html_join(
                "",
                "<li>{}: {} ({} %){}</li>",
                (
                    (
                        link.operator.name,
                        link.weight,
                        _percent(link.weight, total, sign=False) if total else "0",
                        format_html(' <span class="crm-badge crm-inactive">{}</span>', gettext("inactive"))
                        if not link.operator.is_active
                        else "",
                    )
                    for link in links
                ),
            ),
        )

    @admin.display(description=_("waiting"), ordering="waiting")
    def waiting_display(self, obj):
        if not obj.waiting:
            return "0"
        url = reverse("admin:crm_contact_changelist") + f"?source__id__exact={obj.pk}&waiting=yes"
        return format_html('<a href="{}"><span class="crm-badge crm-waiting">{}</span></a>', url, obj.waiting)

    def save_model(self, request, obj, form, change):
        data = {key: form.cleaned_data[key] for key in ("name", "strategy", "affinity")}
        if change:
            self.call_service(request, routing_config.source_update, obj=obj, source_id=obj.pk, **data)
        else:
            _adopt(obj, self.call_service(request, routing_config.source_create, obj=obj, **data))


# --- leads ----------------------------------------------------------------------------------


def _normalised(term: str) -> str | None:
    try:
        return lead_normalise_external_id(term)
    except DomainError:
        return None


@admin.register(Lead)
class LeadAdmin(NulSafeSearchMixin, admin.ModelAdmin):
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
        term = _normalised(search_term)
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
        ids = {c.source_id for c in contacts} | {c.operator_id for c in contacts if c.operator_id}
        sources = dict(Source.objects.filter(pk__in={c.source_id for c in contacts}).values_list("pk", "name"))
        operators = dict(Operator.objects.filter(pk__in=ids).values_list("pk", "name"))
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:crm_contact_change", args=[c.pk]),
                    c.pk,
                    sources.get(c.source_id, c.source_id),
                    operators.get(c.operator_id, "") if c.operator_id else gettext("waiting"),
                    c.get_status_display(),
                    c.created_at.strftime("%Y-%m-%d %H:%M"),
                )
                for c in contacts
            ),
        )
        more = ""
        if len(contacts) >= LEAD_RECENT_CONTACTS:
            more = format_html(
                '<p><a href="{}">{}</a></p>',
                reverse("admin:crm_contact_changelist") + f"?lead__id__exact={obj.pk}",
                gettext("All contacts of this lead"),
            )
        return format_html(
            "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>{}",
            gettext("source"),
            gettext("operator"),
            gettext("status"),
            gettext("created"),
            rows,
            more,
        )


# --- contacts -------------------------------------------------------------------------------


class WaitingFilter(admin.SimpleListFilter):
    title = _("waiting for an operator")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [("yes", _("yes: open, no operator")), ("no", _("no"))]

    def queryset(self, request, queryset):
        waiting = Q(status=Contact.Status.OPEN, operator__isnull=True)
        if self.value() == "yes":
            return queryset.filter(waiting)
        if self.value() == "no":
            return queryset.exclude(waiting)
        return queryset


class ContactActionForm(helpers.ActionForm):
    """The actions bar of the contacts list, with the operator the "reassign" action uses."""

    operator = forms.ModelChoiceField(
        queryset=Operator.objects.order_by("name"),
        required=False,
        label=_("Operator:"),
        empty_label=_("by routing"),
    )


@admin.register(Contact)
class ContactAdmin(NulSafeSearchMixin, admin.ModelAdmin):
    list_display = ["id", "lead", "source", "operator_display", "status", "created_at", "closed_at"]
    list_display_links = ["id", "lead"]
    list_filter = ["status", WaitingFilter, "source", "operator", "unassigned_reason"]
    list_select_related = ["lead", "source", "operator"]
    date_hierarchy = "created_at"
    search_fields = ["lead__external_id"]
    search_help_text = _("Lead's external id (normalised as the API does) or a contact number such as #42.")
    raw_id_fields = ["lead", "operator"]
    fields = [
        "lead",
        "source",
        "operator",
        "status",
        "unassigned_reason",
        "created_at",
        "closed_at",
        "decision",
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

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        number = term.lstrip("#")
        if number.isdigit():
            condition |= Q(pk=int(number))
        normalised = _normalised(term)
        if normalised is not None:
            condition |= Q(lead__external_id__contains=normalised)
        return queryset.filter(condition), False

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

    @admin.display(description=_("assignment decision"))
    def decision(self, obj):
        return render_decision(obj.assignment)

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
            self.message_user(request, exc.message, messages.ERROR)
        except ValueError:
            return HttpResponseRedirect(reverse("admin:crm_contact_changelist"))
        else:
            self.message_user(request, done_message(contact), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:crm_contact_change", args=[object_id]))

    def close_view(self, request, object_id):
        return self._object_action(
            request,
            object_id,
            lambda pk: contact_close(contact_id=pk),
            lambda c: gettext("Contact #%(id)d is closed.") % {"id": c.pk},
        )

    def reassign_view(self, request, object_id):
        raw = request.POST.get("operator_id") or ""
        operator_id = int(raw) if raw.isdigit() else None
        return self._object_action(
            request,
            object_id,
            lambda pk: contact_reassign(contact_id=pk, operator_id=operator_id),
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
        if can_change and row and row["status"] == Contact.Status.OPEN:
            # Who may take it by hand: the source's active operators other than the current one.
            extra["reassign_operators"] = list(
                Operator.objects.filter(links__source_id=row["source_id"], is_active=True)
                .exclude(pk=row["operator_id"])
                .order_by("name")
            )
            extra["can_reassign"] = True
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description=_("Close selected contacts"), permissions=["change"])
    def close_contacts(self, request, queryset):
        closed, errors = 0, []
        for contact_id in queryset.filter(status=Contact.Status.OPEN).values_list("pk", flat=True):
            try:
                contact_close(contact_id=contact_id)
                closed += 1
            except DomainError as exc:
                errors.append(exc.message)
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
                contact_reassign(contact_id=contact_id, operator_id=operator.pk if operator else None)
                moved += 1
            except DomainError as exc:
                errors.append(f"#{contact_id}: {exc.message}")
        text = ngettext("%(n)d contact reassigned.", "%(n)d contacts reassigned.", moved) % {"n": moved}
        self.message_user(request, text, messages.SUCCESS if moved else messages.WARNING)
        for message in errors:
            self.message_user(request, message, messages.ERROR)


def _reassigned_message(contact: Contact) -> str:
    if contact.operator_id is None:
        return gettext("Contact #%(id)d is waiting for an operator.") % {"id": contact.pk}
    name = Operator.objects.filter(pk=contact.operator_id).values_list("name", flat=True).first()
    return gettext("Contact #%(id)d is now with %(operator)s.") % {"id": contact.pk, "operator": name}


# The decision record written by crm.services.assignment (Decision.record): labels for its
# known keys and values; anything else is shown as it is, so nothing recorded is hidden.
DECISION_FACTS = {
    "via": _("how"),
    "at": _("decided at"),
    "strategy": _("strategy"),
    "affinity": _("lead affinity"),
    "affinity_operator_id": _("lead's previous operator"),
    "operator_id": _("chosen operator"),
    "reason": _("why unassigned"),
}
DECISION_VALUES = {
    "via": {
        "intake": _("on registration"),
        "queue": _("from the waiting queue"),
        "reassign": _("reassigned"),
        "redistribute": _("returned to the queue (operator deactivated)"),
    },
    "strategy": {"random": _("weighted random"), "smooth": _("smooth"), "manual": _("by hand")},
    "affinity": {
        "hit": _("the lead's previous operator took it"),
        "miss": _("the lead's previous operator could not take it"),
        "no_history": _("no earlier contact of this lead here"),
    },
    "excluded": {
        "inactive": _("inactive"),
        "paused": _("paused (weight 0)"),
        "full": _("full"),
        "current": _("current operator"),
    },
}


def render_decision(record) -> str:
    """The stored assignment decision, readable: the facts as rows, then the candidates with
    weight, load and why each was left out; the chosen one is marked."""
    import json

    if not record:
        return gettext("No decision recorded.")
    if not isinstance(record, dict):
        return format_html("<pre>{}</pre>", json.dumps(record, indent=2, ensure_ascii=False, default=str))
    candidates = record.get("candidates") if isinstance(record.get("candidates"), list) else []
    names = {c.get("operator_id"): c.get("name") for c in candidates if isinstance(c, dict)}
    facts = []
    for key, value in record.items():
        if key == "candidates" or isinstance(value, list | dict):
            continue
        if key in ("operator_id", "affinity_operator_id") and value is not None:
            shown = f"{names.get(value) or ''} (#{value})".strip()
        elif key == "reason":
            shown = Contact.UnassignedReason(value).label if value in Contact.UnassignedReason.values else value
        elif key == "at":
            shown = _local_time(value)
        else:
            shown = DECISION_VALUES.get(key, {}).get(value, value)
        facts.append((DECISION_FACTS.get(key, key), _plain(shown)))
    parts = [
        format_html(
            '<table class="crm-decision"><tbody>{}</tbody></table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", facts),
        )
    ]
    if candidates:
        chosen = record.get("operator_id")
        rows = format_html_join(
            "",
            '<tr class="{}"><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>',
            (
                (
                    "crm-chosen" if c.get("operator_id") == chosen and chosen is not None else "",
                    f"{c.get('name')} (#{c.get('operator_id')})",
                    _plain(c.get("weight")),
                    _plain(c.get("load")),
                    _plain(c.get("max_load")),
                    gettext("chosen")
                    if c.get("operator_id") == chosen and chosen is not None
                    else _plain(DECISION_VALUES["excluded"].get(c.get("excluded"), c.get("excluded"))),
                )
                for c in candidates
                if isinstance(c, dict)
            ),
        )
        parts.append(
            format_html(
                '<table class="crm-decision crm-candidates"><caption>{}</caption><thead><tr>'
                "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
                gettext("Candidates at the time"),
                gettext("operator"),
                gettext("weight"),
                gettext("load"),
                gettext("left out because"),
                rows,
            )
        )
    for key, value in record.items():
        if key != "candidates" and isinstance(value, list | dict):
            parts.append(
                format_html(
                    '<div class="crm-decision"><b>{}</b><pre>{}</pre></div>',
                    key,
                    json.dumps(value, indent=2, ensure_ascii=False, default=str),
                )
            )
    return format_html_join("", "{}", ((p,) for p in parts))


def _local_time(value):
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime
    from django.utils.formats import localize

    parsed = parse_datetime(value) if isinstance(value, str) else None
    return localize(timezone.localtime(parsed)) if parsed and timezone.is_aware(parsed) else value


def _plain(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


# --- Reliability and security (issue 5) ------------------------------------------------------


@admin.register(RoutingChange)
class RoutingChangeAdmin(NulSafeSearchMixin, admin.ModelAdmin):
    """Who changed which operator, source or weight, and when. Read-only: history."""

    list_display = ["created_at", "actor_name", "action", "object_type", "object_id", "object_repr", "changes"]
    list_filter = ["object_type", "action", "actor_name"]
    search_fields = ["object_repr", "actor_name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BotSource)
class BotSourceAdmin(NulSafeSearchMixin, admin.ModelAdmin):
    """Bots bound to sources. A bot with no binding may post to every source."""

    list_display = ["user", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "source__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["source"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(NulSafeSearchMixin, admin.ModelAdmin):
    list_display = ["key", "user", "response_status", "contact", "created_at"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "key", "fingerprint", "response_status", "response_body", "contact", "created_at"]

    def has_add_permission(self, request):
        return False


# API keys: knox's own admin lists digests; ours lists the public prefix, and deleting a key
# (one by one, or "Delete selected" on the list) revokes it at once.
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiKeyAdmin(NulSafeSearchMixin, admin.ModelAdmin):
    list_display = ["token_key", "user", "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["token_key", "user__username"]
    fields = ["token_key", "user", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # keys are issued by `manage.py create_bot` / `create_api_token`, shown once

    def has_change_permission(self, request, obj=None):
        return False


# Outgoing webhooks' screens (their own module; registered on import).
from crm import admin_webhooks  # noqa: E402, F401
