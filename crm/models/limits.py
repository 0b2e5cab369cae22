"""Sizes, ranges and ids: the limits that columns, CHECK constraints, serializers and URL
patterns share."""

NAME_MAX_LENGTH = 100
EXTERNAL_ID_MAX_LENGTH = 255
LEAD_NAME_MAX_LENGTH = 200
# A canonical phone is E.164: "+" and at most 15 digits (crm.services.leads.phone_normalise).
PHONE_MAX_LENGTH = 16
EMAIL_MAX_LENGTH = 254
MESSAGE_MAX_LENGTH = 4000
METADATA_MAX_BYTES = 4096
MAX_WEIGHT = 1000
MAX_CAPACITY = 100_000
# Ids are 64-bit integers: a larger number given as input is refused before it reaches a query.
MAX_ID = 2**63 - 1
# An id in a URL path: every number of up to 18 digits fits in MAX_ID; anything else is a 404.
ID_PATH_REGEX = rf"[0-9]{{1,{len(str(MAX_ID)) - 1}}}"
MAX_PATH_ID = 10 ** (len(str(MAX_ID)) - 1) - 1


def id_from_text(text: str) -> int | None:
    """`text` as a number that can be an id column's value (ASCII digits, at most MAX_ID), else
    None. Never int() on an overlong string (Python refuses over 4300 digits with an error)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    value = int(text)
    return value if value <= MAX_ID else None
