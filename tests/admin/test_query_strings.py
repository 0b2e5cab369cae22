"""Whatever query string staff type on a changelist, the admin answers with its normal
handling of an invalid lookup (a redirect to `?e=1`, or a 400 for a forbidden one), never a
500. Every registered changelist is fuzzed: every concrete field with the lookups of its kind,
every filter's own parameters, and the date drill-down's year/month/day combinations."""

import itertools

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from crm.models import BotSource, IdempotencyKey, RoutingChange
from crm.services.intake import contact_register
from tests.factories import ContactFactory, OperatorSourceFactory, SourceFactory
from tests.operator_fixtures import with_login

pytestmark = pytest.mark.django_db

# Values per lookup: each kind of field gets the junk that could break it, not all junk.
HUGE, TINY = "99999999999999999999", "-99999999999999999999"
JUNK = ("", "x", "\x00", "-1", "0", "9999", HUGE, "1,x", "(")
YEARS = ("0", "1", "9999", "10000", HUGE)
PARTS = ("0", "13", "32", HUGE, "x")
DATES = ("0001-01-01", "9999-12-31 23:59:59", "2024-02-30", "10000-01-01", "x", "\x00")
LOOKUPS = {
    "date": {
        **dict.fromkeys(["year", "iso_year", "year__gt"], YEARS),
        **dict.fromkeys(["month", "day", "week_day", "hour"], PARTS),
        **dict.fromkeys(["", "date", "gte"], DATES),
    },
    "number": {"": ("x", HUGE, TINY, "\x00"), "in": ("1,x", HUGE), "isnull": ("x",), "range": ("0", "1,2")},
    "text": {
        "": ("\x00",),
        "in": ("\x00",),
        **dict.fromkeys(["regex", "iregex"], ("(", "\x00", "(?P<x>a)")),
        "isnull": ("x",),
    },
    "other": {"": ("x", "\x00", "{"), "isnull": ("x",)},
}
ALLOWED = {200, 302, 400, 403}  # 403: a list not served to this user (staff on the operators workspace)


@pytest.fixture
def superuser_client(client, admin_user):
    """A superuser: every registered changelist is open to him, Django's own included."""
    client.force_login(admin_user)
    return client


def _kind(field) -> str:
    if isinstance(field, models.DateField | models.DateTimeField):
        return "date"
    if isinstance(field, models.IntegerField | models.ForeignKey | models.AutoField | models.DecimalField):
        return "number"
    if isinstance(field, models.CharField | models.TextField):
        return "text"
    return "other"


def _field_parameters(model) -> list[tuple[str, list[str]]]:
    params = []
    for field in model._meta.concrete_fields:
        name = f"{field.name}__id" if isinstance(field, models.ForeignKey) else field.name
        for lookup, values in LOOKUPS[_kind(field)].items():
            params.append((f"{name}__{lookup}" if lookup else name, values))
    return params


def _changelist_parameters(client, model) -> list[tuple[str, list[str]]]:
    """The parameters the page itself offers: its filters' and the date drill-down's."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    cl = client.get(url).context["cl"]
    names = {name for spec in cl.filter_specs for name in spec.expected_parameters()}
    names |= {"o", "p", "q", "all", "e", "_facets", "_to_field", "_popup"}
    return [(name, JUNK) for name in sorted(names)]


def _registered():
    return sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.fixture
def rows():
    """A few rows everywhere, so that lookups the database evaluates per row really run."""
    link = OperatorSourceFactory()
    contact = ContactFactory(source=link.source, operator=link.operator, unassigned_reason="")
    RoutingChange.objects.create(action="create", object_type="operator", object_id=1, object_repr="x")
    from django.contrib.auth import get_user_model

    bot = get_user_model().objects.create_user("fuzz-bot")
    BotSource.objects.create(user=bot, source=link.source)
    IdempotencyKey.objects.create(
        user=bot, key="k", fingerprint="f", response_status=201, response_body={}, contact=contact
    )
    return contact


def _fuzz(client, url, params) -> list:
    bad = []
    for query in params:
        try:
            status = client.get(url, query).status_code
        except Exception as exc:  # the test client re-raises what would have been a 500
            status = repr(exc)[:120]
        if status not in ALLOWED:
            bad.append((query, status))
    return bad


@pytest.mark.parametrize("model", _registered(), ids=lambda m: m._meta.label)
def test_no_query_string_breaks_a_changelist(superuser_client, rows, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = superuser_client.get(url)
    if response.context is None or "cl" not in response.context:
        # A list that is not for staff (the operators' own workspace): fuzzed as an operator.
        superuser_client.force_login(with_login().user)
    params = _field_parameters(model) + _changelist_parameters(superuser_client, model)
    queries = [{name: value} for name, values in params for value in values]
    hierarchy = admin.site._registry[model].date_hierarchy
    if hierarchy:
        for year, month, day in itertools.product(YEARS, ["", "2", "12", "13"], ["", "29", "32"]):
            query = {f"{hierarchy}__year": year, f"{hierarchy}__month": month, f"{hierarchy}__day": day}
            queries.append({k: v for k, v in query.items() if v})
    bad = _fuzz(superuser_client, url, queries)
    assert not bad, "\n".join(map(repr, bad))


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_date_edges_in_far_time_zones(superuser_client, rows, settings, tz):
    """Year 1 in UTC+14 starts in year 0 in UTC, year 9999 in UTC-12 ends in year 10000."""
    settings.TIME_ZONE = tz
    queries = [
        {"created_at__year": year, **({"created_at__month": month} if month else {})}
        for year in ("1", "9999")
        for month in ("", "1", "12")
    ]
    for model in _registered():
        if any(f.name == "created_at" for f in model._meta.concrete_fields):
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            bad = _fuzz(superuser_client, url, queries)
            assert not bad, "\n".join(map(repr, bad))


def test_an_out_of_range_year_is_the_admins_invalid_lookup(superuser_client):
    response = superuser_client.get("/admin/crm/contact/", {"created_at__year": "9999"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    assert superuser_client.get(response["Location"]).status_code == 200


def _state() -> dict:
    """Every registered table's rows, as plain values: what an action could change."""
    return {model._meta.label: sorted(map(repr, model.objects.values_list())) for model in _registered()}


@pytest.mark.parametrize("model", _registered(), ids=lambda m: m._meta.label)
def test_an_action_on_ids_that_are_not_ids_changes_nothing(superuser_client, model, rng):
    """The ticked rows' ids come from the POST: junk there is refused like an empty selection."""
    source = SourceFactory()
    OperatorSourceFactory(source=source)
    contact_register(external_id="fuzz-lead", source_id=source.pk, rng=rng)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    request = superuser_client.get(url).wsgi_request
    actions = [name for name, _label in admin.site._registry[model].get_action_choices(request) if name]
    before = _state()
    bad = []
    for action in actions:
        for selected in ["x", "\x00", "", "1.5", "99999999999999999999", "-99999999999999999999"]:
            data = {"action": action, "index": "0", "_selected_action": [selected]}
            try:
                status = superuser_client.post(url, data).status_code
            except Exception as exc:
                status = repr(exc)[:120]
            if status not in ALLOWED:
                bad.append((action, selected, status))
    assert not bad, "\n".join(map(repr, bad))
    assert _state() == before


def test_every_registered_admin_is_guarded():
    from minicrm_project.admin import GuardedAdminMixin

    assert all(isinstance(model_admin, GuardedAdminMixin) for model_admin in admin.site._registry.values())


def test_nul_in_admin_search_and_autocomplete_is_not_a_500(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("nul-admin", password="pw-12345678")
    client.force_login(admin_user)
    r = client.get(
        "/admin/autocomplete/", {"app_label": "crm", "model_name": "contact", "field_name": "operator", "term": "\x00"}
    )
    assert r.status_code == 200
    r = client.get("/admin/crm/operator/", {"q": "iv\x00an"})
    assert r.status_code == 200
