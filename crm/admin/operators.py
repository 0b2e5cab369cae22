"""Operators: their form, the load filter, the list with load bars and sources served, and the
activate / deactivate actions. Saves go through routing_config.operator_*."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS, load_bar
from crm.admin.service_bridge import ServiceFormMixin, adopt
from crm.admin.weights import LINK_MESSAGES, LinksSavedByServicesMixin, SourceWeightInline
from crm.errors import DomainError
from crm.models import MAX_CAPACITY, Contact, Operator
from crm.services import routing_config
from crm.services.accounts import api_token_create, operator_login_create
from crm.services.assignment import availability_now


class OperatorAdminForm(ServiceFormMixin, forms.ModelForm):
    max_load = forms.IntegerField(
        label=capfirst(_("max load")),
        min_value=0,
        max_value=MAX_CAPACITY,
        initial=10,
        help_text=_("How many open contacts the operator may hold at once."),
    )

    availability = forms.ChoiceField(
        label=capfirst(_("availability")),
        choices=[("", "—"), *Operator.Availability.choices],
        required=False,
        help_text=_("Only online operators receive new contacts; going online hands him waiting contacts at once."),
    )

    redistribute = forms.BooleanField(
        label=_("Hand his open contacts to the others"),
        required=False,
        help_text=_(
            "Only when deactivating or going offline: his open contacts go back to the waiting queue "
            "(oldest first) and to the other operators of their sources as far as they have room."
        ),
    )

    class Meta:
        model = Operator
        fields = ["name", "is_active", "availability", "max_load"]


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


@admin.register(Operator)
class OperatorAdmin(LinksSavedByServicesMixin, admin.ModelAdmin):
    verbose_name_accusative = pgettext_lazy("accusative", "operator")
    form = OperatorAdminForm
    list_display = ["name", "is_active", "availability_display", "load_display", "sources_display"]
    list_display_links = ["name"]
    list_filter = ["is_active", "availability", LoadFilter, ("links__source", admin.RelatedFieldListFilter)]
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
        ("redistribute", "invalid"): _(
            "Open contacts are handed to the others only when deactivating or going offline."
        ),
        ("name", "unique"): _("An operator with this name already exists (names are compared ignoring case)."),
        ("name", "blank"): _("The name may not be blank."),
    }

    class Media:
        css = CSS

    change_form_template = "admin/crm/operator/change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "is_active", "max_load"]
        return [
            "name",
            "is_active",
            "availability",
            "redistribute",
            "max_load",
            "open_load",
            "user",
            "last_seen_at",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "user", "last_seen_at"]

    @admin.display(description=_("availability"), ordering="availability")
    def availability_display(self, obj):
        state = availability_now(obj, now=timezone.now())
        if state != obj.availability:
            return gettext("away (idle)")
        return obj.get_availability_display()

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/login/", self.admin_site.admin_view(self.login_view), name=f"{prefix}_login"),
            *super().get_urls(),
        ]

    def login_view(self, request, object_id):
        """Give the operator his own login (or a new password) and, on request, an API key:
        what `create_operator_login` and `create_api_token` do, shown once here."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_change_permission(request) and request.user.has_perm("auth.add_user")):
            raise PermissionDenied
        if not str(object_id).isdigit():
            raise Http404
        try:
            user, password = operator_login_create(
                operator_id=int(object_id), username=request.POST.get("username", "")
            )
            key = api_token_create(username=user.get_username()) if request.POST.get("api_key") == "on" else None
        except DomainError as exc:
            self.message_user(request, exc.message_for(request.user), messages.ERROR)
        else:
            text = gettext("Login %(user)s, password (shown once): %(password)s") % {
                "user": user.get_username(),
                "password": password,
            }
            self.message_user(request, text, messages.SUCCESS)
            if key:
                self.message_user(request, gettext("API key (shown once): %(key)s") % {"key": key}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:crm_operator_change", args=[object_id]))

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
                availability=data.get("availability") or None,
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
            adopt(obj, saved)

    def _set_active(self, request, queryset, active: bool, *, redistribute: bool = False) -> None:
        done, errors = 0, []
        for operator_id in queryset.values_list("pk", flat=True):
            try:
                routing_config.operator_update(
                    operator_id=operator_id, is_active=active, redistribute=redistribute, actor=request.user
                )
                done += 1
            except DomainError as exc:
                errors.append(exc.message_for(request.user))
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
        waiting_before = Contact.objects.waiting().count()
        self._set_active(request, queryset, False, redistribute=True)
        waiting = Contact.objects.waiting().count()
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
