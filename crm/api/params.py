"""Query parameters: one rule for all of them. A parameter given twice, or given empty, is a
400 naming it: frameworks would keep the last of twins or ignore an empty value, answering a
question the client did not ask."""

from collections.abc import Iterable, Mapping

REPEATED = "Give this parameter at most once."
EMPTY = "This parameter may not be empty; leave it out instead."


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
