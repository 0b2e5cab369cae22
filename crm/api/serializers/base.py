"""The strict bases: every write answers 400 naming each unknown or read-only field."""

import copy
from collections.abc import Mapping

from django.utils.translation import gettext as _
from rest_framework import serializers

from crm.api.fields import StrictIntegerField
from crm.models import (
    MAX_ID,
)


class StrictFieldsMixin:
    """A request body names only fields this serializer accepts. Any other key (a typo, a
    field of another CRM's API, a read-only field) is a 400 naming it, reported together with
    the other fields' errors: silently dropping it would let a client believe it was stored.
    The OpenAPI schema says the same (`additionalProperties: false`, crm.api.schema)."""

    # field -> why it is read-only here, for a more helpful 400 than the generic one
    read_only_hints: dict[str, str] = {}

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for name in data:
                if name in writable:
                    continue
                if name in self.fields:
                    errors[name] = [self.read_only_hints.get(name, _("This field is read-only; leave it out."))]
                else:
                    errors[name] = [_("Unknown field.")]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


# Renders a datetime as every DateTimeField of the API does (format and time zone from the
# settings), for the serializers that write their fields out; stateless, so one instance
# serves every thread.
API_DATETIME = serializers.DateTimeField()


class FlatFieldsBuiltOnce:
    """For a request body of flat, stateless fields only (no nested serializer, no list or
    dict field with a child, no default that reads the context): the declared fields are
    deep-copied once per class, and each serializer gets shallow copies of them, which DRF's
    `bind` then makes its own (name, parent, source). DRF deep-copies every declared field for
    every serializer, re-running each field's __init__: on the intake that was a tenth of the
    CPU. Validators and error messages are shared between the copies; nothing changes them
    after __init__."""

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = copy.deepcopy(self._declared_fields)
            nested = [name for name, f in built.items() if isinstance(f, serializers.BaseSerializer | _WITH_CHILD)]
            if nested:
                raise TypeError(f"{cls.__name__}: fields {nested} are not flat; FlatFieldsBuiltOnce does not apply")
            cls._fields_built_once = built
        return {name: copy.copy(field) for name, field in built.items()}


_WITH_CHILD = serializers.ListField | serializers.DictField | serializers.HStoreField


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """A request body with exactly the declared fields (see StrictFieldsMixin)."""


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A model's request body with exactly the declared fields (see StrictFieldsMixin)."""


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 - reads like a field class
    """A positive database id. The upper bound keeps huge numbers from reaching the database."""
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)
