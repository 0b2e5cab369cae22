"""FlatFieldsBuiltOnce: the intake's body serializer builds its fields once per class; every
serializer still gets fields of its own (bound to it), and nested fields are refused."""

import threading

import pytest
from rest_framework import serializers

from crm.api.serializers import ContactCreateSerializer
from crm.api.serializers.base import FlatFieldsBuiltOnce, StrictSerializer


def test_each_serializer_binds_its_own_fields():
    first = ContactCreateSerializer(data={"external_id": "a", "source_id": 1})
    second = ContactCreateSerializer(data={"external_id": 7, "source_id": "x"})
    assert first.is_valid()
    assert not second.is_valid()
    assert set(second.errors) == {"external_id", "source_id"}
    assert first.errors == {}
    for serializer in (first, second):
        assert all(field.parent is serializer for field in serializer.fields.values())
    assert first.fields["external_id"] is not second.fields["external_id"]


def test_validation_in_threads_keeps_each_answer_apart():
    results = {}

    def validate(i: int) -> None:
        body = {"external_id": f"lead-{i}", "source_id": i + 1} if i % 2 else {"external_id": "", "source_id": 0}
        serializer = ContactCreateSerializer(data=body)
        results[i] = (serializer.is_valid(), dict(serializer.validated_data) if i % 2 else serializer.errors)

    threads = [threading.Thread(target=validate, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (valid, answer) in results.items():
        if i % 2:
            assert valid and answer == {"external_id": f"lead-{i}", "source_id": i + 1}
        else:
            assert not valid and set(answer) == {"external_id", "source_id"}


def test_nested_fields_are_refused():
    class Nested(FlatFieldsBuiltOnce, StrictSerializer):
        tags = serializers.ListField(child=serializers.CharField())

    with pytest.raises(TypeError, match="not flat"):
        Nested(data={"tags": []}).is_valid()
