"""What the admin tests share: POST data for the weights inline, a form's errors as one string,
and open contacts to work on."""

from crm.models import Contact, Source
from crm.services import routing_config
from crm.services.intake import contact_register
from tests.factories import OperatorFactory, OperatorSourceFactory, SourceFactory


def links_formset(rows: list[dict], *, initial: int = 0) -> dict:
    """POST data for the weights inline (prefix "links")."""
    data = {
        "links-TOTAL_FORMS": str(len(rows)),
        "links-INITIAL_FORMS": str(initial),
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"links-{i}-{key}"] = "" if value is None else str(value)
    return data


def form_errors(response) -> str:
    """All error texts of an admin change form response, as one string."""
    errors = response.context["errors"]
    return " ".join(str(e) for e in errors)


def open_contacts(source: Source, n: int, rng) -> list[Contact]:
    return [contact_register(external_id=f"lead-{source.pk}-{i}", source_id=source.pk, rng=rng) for i in range(n)]


def two_operators_one_source(rng, *, busy_load: int = 2):
    """ "busy" with `busy_load` open contacts and "spare" with none, both active on one source."""
    src = SourceFactory()
    busy = OperatorFactory(name="busy", max_load=5)
    spare = OperatorFactory(name="spare", max_load=5, is_active=False)
    OperatorSourceFactory(operator=busy, source=src)
    OperatorSourceFactory(operator=spare, source=src)
    open_contacts(src, busy_load, rng)
    routing_config.operator_update(operator_id=spare.pk, is_active=True)
    return busy, spare
