"""The weights (OperatorSource rows), edited inline from either side: on an operator's page the
sources he serves, on a source's page its operators. Rows are saved through routing_config.link_*
by the parent admin (`LinksSavedByServicesMixin`), never by the formset itself."""

from django import forms
from django.contrib import admin
from django.db.models import Subquery, Sum
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from crm.admin.display import percent
from crm.admin.service_bridge import ServiceAdminMixin, ServiceFormMixin, ServiceFormSetMixin
from crm.models import MAX_WEIGHT, Operator, OperatorSource
from crm.services import routing_config


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
        return percent(obj.weight, total) if total else "—"

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
