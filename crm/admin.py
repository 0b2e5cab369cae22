"""Staff screens. Writes go through crm.services, so the admin obeys the same rules
(capacity, locks) as the API."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken

from crm.errors import DomainError
from crm.models import BotSource, Contact, IdempotencyKey, Lead, Operator, OperatorSource, RoutingChange, Source
from crm.services import routing_config


class OperatorAdminForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["name", "is_active", "max_load"]

    def clean_max_load(self):
        max_load = self.cleaned_data["max_load"]
        if self.instance.pk and max_load < self.instance.open_load:
            raise forms.ValidationError(
                _("%(name)s has %(load)d open contacts; max load cannot be lower."),
                params={"name": self.instance.name, "load": self.instance.open_load},
            )
        return max_load


class OperatorSourceInline(admin.TabularInline):
    model = OperatorSource
    extra = 1
    fields = ["operator", "source", "weight"]
    autocomplete_fields = ["operator", "source"]


class RoutingInlineSaveMixin:
    """Weights edited inline go through crm.services.routing_config like the API's, so they
    obey the same rules and land in the routing history with the staff member's name."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not OperatorSource:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        try:
            for link in formset.deleted_objects:
                routing_config.link_delete(link_id=link.pk, actor=request.user)
            for link, changed in formset.changed_objects:
                if "operator" in changed or "source" in changed:
                    routing_config.link_delete(link_id=link.pk, actor=request.user)
                    formset.new_objects.append(link)
                else:
                    routing_config.link_update(link_id=link.pk, weight=link.weight, actor=request.user)
            for link in formset.new_objects:
                routing_config.link_create(
                    operator_id=link.operator_id, source_id=link.source_id, weight=link.weight, actor=request.user
                )
        except DomainError as exc:
            messages.error(request, exc.message)


@admin.register(Operator)
class OperatorAdmin(RoutingInlineSaveMixin, admin.ModelAdmin):
    list_display = ["name", "is_active", "load_display", "max_load"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["open_load", "created_at"]
    form = OperatorAdminForm
    inlines = [OperatorSourceInline]

    @admin.display(description=_("load"))
    def load_display(self, obj):
        return f"{obj.open_load} / {obj.max_load}"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                saved = routing_config.operator_update(
                    operator_id=obj.pk,
                    name=data["name"],
                    is_active=data["is_active"],
                    max_load=data["max_load"],
                    actor=request.user,
                )
            else:
                saved = routing_config.operator_create(
                    name=data["name"], is_active=data["is_active"], max_load=data["max_load"], actor=request.user
                )
        except DomainError as exc:
            # The form checked the same rule; this is a concurrent change between the two.
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk


@admin.register(Source)
class SourceAdmin(RoutingInlineSaveMixin, admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [OperatorSourceInline]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                saved = routing_config.source_update(
                    source_id=obj.pk, name=obj.name, strategy=obj.strategy, affinity=obj.affinity, actor=request.user
                )
            else:
                saved = routing_config.source_create(
                    name=obj.name, strategy=obj.strategy, affinity=obj.affinity, actor=request.user
                )
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["external_id", "created_at"]
    search_fields = ["external_id"]
    readonly_fields = ["external_id", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "source", "operator", "status", "unassigned_reason", "created_at"]
    list_filter = ["status", "source", "unassigned_reason"]
    list_select_related = ["lead", "source", "operator"]
    raw_id_fields = ["lead", "operator"]
    readonly_fields = ["lead", "source", "operator", "status", "unassigned_reason", "created_at", "closed_at"]

    def has_add_permission(self, request):
        return False


# --- Reliability and security (issue 5) ------------------------------------------------------


@admin.register(RoutingChange)
class RoutingChangeAdmin(admin.ModelAdmin):
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
class BotSourceAdmin(admin.ModelAdmin):
    """Bots bound to sources. A bot with no binding may post to every source."""

    list_display = ["user", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "source__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["source"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "response_status", "contact", "created_at"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "key", "fingerprint", "response_status", "response_body", "contact", "created_at"]

    def has_add_permission(self, request):
        return False


# API keys: knox's own admin lists digests; ours lists the public prefix, and deleting a key
# (one by one, or "Delete selected" on the list) revokes it at once.
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["token_key", "user__username"]
    fields = ["token_key", "user", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # keys are issued by `manage.py create_bot` / `create_api_token`, shown once

    def has_change_permission(self, request, obj=None):
        return False
