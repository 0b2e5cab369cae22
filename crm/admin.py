"""Staff screens. Writes go through crm.services, so the admin obeys the same rules
(capacity, locks) as the API."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from crm.errors import DomainError
from crm.models import Contact, Lead, Operator, OperatorSource, Source
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


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
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
                    operator_id=obj.pk, name=data["name"], is_active=data["is_active"], max_load=data["max_load"]
                )
            else:
                saved = routing_config.operator_create(
                    name=data["name"], is_active=data["is_active"], max_load=data["max_load"]
                )
        except DomainError as exc:
            # The form checked the same rule; this is a concurrent change between the two.
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [OperatorSourceInline]


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
