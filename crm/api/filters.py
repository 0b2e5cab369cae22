"""List filters: strict, so a filter the server cannot apply is a 400 naming it, never
silently dropped (an unknown, repeated or empty one: crm.api.views.StrictQueryParameters)."""

import django_filters
from django import forms
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field

from crm.errors import DomainError
from crm.models import EXTERNAL_ID_MAX_LENGTH, MAX_ID, Contact, ContactStatus, Lead, OperatorSource
from crm.selectors import LEAD_SEARCH_MIN_LENGTH, lead_search
from crm.services.leads import lead_normalise_external_id


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id filter: an unknown id gives an empty page, a non-number or an out-of-range
    number a 400 naming the parameter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    field_class = django_filters.fields.forms.IntegerField


class BooleanQueryField(forms.Field):
    """A query parameter's true/false (the request body's is crm.api.fields.StrictBooleanField)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError(gettext("Enter true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """true/false (or 1/0); anything else is a 400, not silently ignored."""

    field_class = BooleanQueryField


class ContactFilter(django_filters.FilterSet):
    source = IdFilter(field_name="source_id", help_text="Only contacts of this source id.")
    operator = IdFilter(field_name="operator_id", help_text="Only contacts of this operator id.")
    lead = IdFilter(field_name="lead_id", help_text="Only contacts of this lead id.")
    status = django_filters.ChoiceFilter(choices=ContactStatus.choices)
    unassigned = StrictBooleanFilter(
        field_name="operator", lookup_expr="isnull", help_text="true: only contacts without an operator."
    )

    class Meta:
        model = Contact
        fields = ["source", "operator", "lead", "status", "unassigned"]


@extend_schema_field({"type": "string", "minLength": 1})
class ExternalIdFilter(django_filters.CharFilter):
    """Unstripped (the filter method normalises), so "  " is a search that matches nothing,
    not a filter silently dropped."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)


SEARCH_MAX_LENGTH = EXTERNAL_ID_MAX_LENGTH


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": SEARCH_MAX_LENGTH, "example": "anna"})
class SearchFilter(django_filters.CharFilter):
    """Free text, unstripped (the selector strips), at most SEARCH_MAX_LENGTH characters."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strip", False)
        kwargs.setdefault("max_length", SEARCH_MAX_LENGTH)
        super().__init__(*args, **kwargs)


class LeadFilter(django_filters.FilterSet):
    external_id = ExternalIdFilter(
        method="filter_external_id", help_text="Exact external id, normalised like the intake's."
    )
    search = SearchFilter(
        method="filter_search",
        help_text="Leads whose external id, name, phone or email contains this text (case does not matter; "
        "a phone may be typed in any usual format, e.g. '+7 (912) 345-67-89' or '912 345'). "
        f"A term shorter than {LEAD_SEARCH_MIN_LENGTH} characters matches an exact external id only.",
    )

    class Meta:
        model = Lead
        fields = ["external_id", "search"]

    def filter_search(self, queryset, name, value):
        return lead_search(queryset, value)

    def filter_external_id(self, queryset, name, value):
        if not value.strip():
            return queryset.none()  # no lead has a blank id
        try:
            normalised = lead_normalise_external_id(value)
        except DomainError:  # too long: no lead can match
            return queryset.none()
        return queryset.filter(external_id=normalised)


class OperatorSourceFilter(django_filters.FilterSet):
    """Like the contact filters: an unknown id gives an empty page, not a 400."""

    operator = IdFilter(field_name="operator_id", help_text="Only links of this operator id.")
    source = IdFilter(field_name="source_id", help_text="Only links of this source id.")

    class Meta:
        model = OperatorSource
        fields = ["operator", "source"]
