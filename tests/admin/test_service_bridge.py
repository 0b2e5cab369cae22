"""The bridge from services to admin forms (crm/admin/service_bridge.py): a refused write
rolls the whole save back and says why on the form, and a save locks only the operators its
services will lock."""

import pytest
from django.contrib import admin as django_admin
from django.db import transaction

from crm.admin.operators import OperatorAdmin
from crm.admin.sources import SourceAdmin
from crm.errors import DomainError
from crm.models import Operator, OperatorSource, Source
from crm.services import routing_config
from crm.services.locking import routing_locked
from tests.admin.helpers import links_formset
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_a_refused_weight_rolls_back_the_whole_save_and_says_why(admin_client, monkeypatch):
    src = SourceFactory(name="tg")
    link = OperatorSourceFactory(source=src, weight=10)

    def refuse(**kwargs):
        raise DomainError("Weights are frozen right now.", field="weight", code="frozen")

    monkeypatch.setattr(routing_config, "link_update", refuse)
    rows = [{"id": link.pk, "source": src.pk, "operator": link.operator_id, "weight": 99}]
    data = {"name": "tg renamed", "strategy": "random"} | links_formset(rows, initial=1)
    response = admin_client.post(f"/admin/crm/source/{src.pk}/change/", data)
    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert "Weights are frozen right now." in str(inline.formset.non_form_errors())
    assert Source.objects.get(pk=src.pk).name == "tg"  # the source's own change was rolled back too
    assert OperatorSource.objects.get(pk=link.pk).weight == 10


def test_an_operator_save_locks_his_sources_operators_and_the_new_links_not_everyone(rf):
    ivan, colleague, newcomer, stranger = (OperatorFactory() for _ in range(4))
    served = SourceFactory()
    OperatorSourceFactory(operator=ivan, source=served)
    OperatorSourceFactory(operator=colleague, source=served)
    joined = SourceFactory()  # Ivan is being linked to it on this save
    OperatorSourceFactory(operator=newcomer, source=joined)
    OperatorSourceFactory(operator=stranger)  # an unrelated source
    request = rf.post("/", links_formset([{"source": joined.pk, "weight": 1}]))
    scope = OperatorAdmin(Operator, django_admin.site).routing_lock_scope(request, str(ivan.pk))
    with transaction.atomic(), routing_locked(**scope) as ctx:
        assert set(ctx.operators) == {ivan.pk, colleague.pk, newcomer.pk}
    request = rf.post("/", links_formset([{"operator": stranger.pk, "weight": 1}]))
    scope = SourceAdmin(Source, django_admin.site).routing_lock_scope(request, str(served.pk))
    with transaction.atomic(), routing_locked(**scope) as ctx:
        assert set(ctx.operators) == {ivan.pk, colleague.pk, stranger.pk}
