"""Sentences the management commands share, with plural forms for every count."""

from django.utils.translation import ngettext


def demo_counts(created: dict[str, int]) -> str:
    """ "4 operators, 3 sources, 7 weights" (or "1 operator, ..."), in the active language."""
    return ", ".join(
        [
            ngettext("%(n)d operator", "%(n)d operators", created["operators"]) % {"n": created["operators"]},
            ngettext("%(n)d source", "%(n)d sources", created["sources"]) % {"n": created["sources"]},
            ngettext("%(n)d weight", "%(n)d weights", created["weights"]) % {"n": created["weights"]},
        ]
    )
