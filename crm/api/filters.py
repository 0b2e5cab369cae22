import django_filters
from django import forms

from crm.api.serializers import MAX_ID
from crm.models import Contact, Lead
from crm.services.leads import lead_normalise_external_id


class IdFilter(django_filters.NumberFilter):
    """An id filter: an unknown id gives an empty page, a non-number or an out-of-range
    number a 400 naming the parameter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    field_class = django_filters.fields.forms.IntegerField


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """true/false (or 1/0); anything else is a 400, not silently ignored."""

    field_class = StrictBooleanField


class ContactFilter(django_filters.FilterSet):
    source = IdFilter(field_name="source_id", help_text="Only contacts of this source id.")
    operator = IdFilter(field_name="operator_id", help_text="Only contacts of this operator id.")
    lead = IdFilter(field_name="lead_id", help_text="Only contacts of this lead id.")
    status = django_filters.ChoiceFilter(choices=Contact.Status.choices)
    unassigned = StrictBooleanFilter(
        field_name="operator", lookup_expr="isnull", help_text="true: only contacts without an operator."
    )

    class Meta:
        model = Contact
        fields = ["source", "operator", "lead", "status", "unassigned"]


class LeadFilter(django_filters.FilterSet):
    external_id = django_filters.CharFilter(
        method="filter_external_id", help_text="Exact external id, normalised like the intake's."
    )

    class Meta:
        model = Lead
        fields = ["external_id"]

    def filter_external_id(self, queryset, name, value):
        normalised = value.strip().lower()
        if not normalised:
            return queryset
        try:
            normalised = lead_normalise_external_id(value)
        except Exception:  # too long: no lead can match
            return queryset.none()
        return queryset.filter(external_id=normalised)
