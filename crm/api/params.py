"""Query parameters: one rule for all of them (filters, pagination, statistics). A parameter
the operation does not know, given twice, or given empty, is a 400 naming it: frameworks would
ignore the unknown one, keep the last of twins or drop an empty value, answering a question
the client did not ask. Checked once per request by crm.api.views.StrictQueryParameters."""

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext_lazy as _

REPEATED = _("Give this parameter at most once.")
EMPTY = _("This parameter may not be empty; leave it out instead.")
UNKNOWN = _("Unknown query parameter.")


def query_parameter_errors(data: Mapping, known: Iterable[str]) -> dict[str, list[str]]:
    """The errors, by name, of the parameters in `data` (a QueryDict) that are not `known`,
    repeated or empty; empty when all is well."""
    known = set(known)
    errors = {name: [UNKNOWN] for name in data if name not in known}
    errors.update(reject_repeated_or_empty(data, [name for name in data if name in known]))
    return errors


def reject_repeated_or_empty(data: Mapping, names: Iterable[str]) -> dict[str, list[str]]:
    """The errors, by parameter name, of `names` given twice or empty in `data` (a QueryDict
    or a plain mapping); empty when all is well."""
    errors = {}
    for name in names:
        if name not in data:
            continue
        values = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
        if len(values) > 1:
            errors[name] = [REPEATED]
        elif str(values[0]) == "":
            errors[name] = [EMPTY]
    return errors
