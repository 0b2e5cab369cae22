"""Strict JSON types for request bodies. DRF's own fields coerce: 12 becomes "12" for a
CharField, "7" and 7.0 become 7 for an IntegerField, "yes" becomes True. Our OpenAPI schema
promises the types, so a value of another type is a 400 naming the field."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": _("Must be a string.")}

    def __init__(self, **kwargs):
        # The services strip and check blankness themselves; checking lengths on the raw value
        # keeps the OpenAPI maxLength exact.
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": _("Must be an integer.")}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
