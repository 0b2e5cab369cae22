"""Leads: the one normalisation of their identity and profile, and the one writer of both.

A lead's profile (name, phone, email) comes from his contacts. The rule, the same for every
path that writes a lead: a later contact that carries a non-empty value replaces it (the last
value wins), an empty or absent value never erases one. `lead_touch` is that writer.

Phones are stored in one canonical form, E.164 ("+" and up to 15 digits, e.g. +79123456789),
as parsed by `phonenumbers` (Google's libphonenumber metadata, kept up to date by its
maintainers): it knows every country's number lengths and the national trunk prefixes ("8 912
..." in Russia, "0 20 ..." in the UK), which a hand-written rule would get wrong. A number
without a country code is read in settings.PHONE_DEFAULT_REGION (empty: refused)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from crm.compiled import db_datetime
from crm.errors import DomainError
from crm.models import (
    EMAIL_MAX_LENGTH,
    EXTERNAL_ID_MAX_LENGTH,
    LEAD_NAME_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    METADATA_MAX_BYTES,
    Lead,
)

PHONE_INPUT_MAX_LENGTH = 32
METADATA_KEY_MAX_LENGTH = 100
_email_validator = EmailValidator()


def lead_normalise_external_id(external_id: str) -> str:
    """The one normalisation of an external id (API, admin search, commands): surrounding
    whitespace stripped, lower-cased. Raises DomainError when nothing or too much is left."""
    if not isinstance(external_id, str):
        raise DomainError(gettext("external_id must be a string."), field="external_id")
    normalised = external_id.strip().lower()
    if not normalised:
        raise DomainError(gettext("external_id may not be blank."), field="external_id", code="blank")
    if len(normalised) > EXTERNAL_ID_MAX_LENGTH:
        raise DomainError(
            ngettext(
                "external_id is longer than %(max)d character.",
                "external_id is longer than %(max)d characters.",
                EXTERNAL_ID_MAX_LENGTH,
            )
            % {"max": EXTERNAL_ID_MAX_LENGTH},
            field="external_id",
            code="max_length",
        )
    return normalised


def _at_most_characters(limit: int) -> str:
    return ngettext("At most %(max)d character.", "At most %(max)d characters.", limit) % {"max": limit}


def _no_nul(value: str, field: str) -> None:
    if "\x00" in value:
        raise DomainError(gettext("Null characters are not allowed."), field=field, code="null_characters_not_allowed")


def phone_normalise(raw: str, *, region: str | None = None) -> str:
    """A phone number in its canonical form, E.164 ("+79123456789"); "" for an empty value.

    Accepts the usual ways of writing one: spaces, dashes, dots, brackets, a leading "+" or
    "00", or a national number ("8 (912) 345-67-89") when a default region is configured.
    Raises DomainError(field="phone") for what is not a possible phone number (too short or
    long for its country, letters, an unknown country code) and for an extension, which the
    canonical form cannot hold."""
    if not isinstance(raw, str):
        raise DomainError(gettext("Must be a string."), field="phone")
    text = raw.strip()
    if not text:
        return ""
    _no_nul(text, "phone")
    if len(text) > PHONE_INPUT_MAX_LENGTH:
        raise DomainError(_at_most_characters(PHONE_INPUT_MAX_LENGTH), field="phone", code="max_length")
    if any(ch.isalpha() for ch in text):
        # libphonenumber reads letters as keypad digits (1-800-FLOWERS); a lead's phone with
        # letters in it is a typo or not a phone at all.
        raise DomainError(gettext("A phone number has no letters."), field="phone", code="invalid_phone")
    if text.startswith("00"):
        text = "+" + text[2:]  # the ITU international prefix
    region = region if region is not None else (settings.PHONE_DEFAULT_REGION or None)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            message = gettext("Give the number with its country code, e.g. +7 912 345-67-89.")
        else:
            message = gettext("This is not a phone number.")
        raise DomainError(message, field="phone", code="invalid_phone") from None
    if number.extension:
        raise DomainError(
            gettext("Extensions are not stored; send the number alone."), field="phone", code="invalid_phone"
        )
    if not phonenumbers.is_possible_number(number):
        raise DomainError(gettext("This is not a possible phone number."), field="phone", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def search_words(text: str) -> list[str]:
    """The words of a name or a search term: runs of letters and digits, lower-cased by
    Python (the same on every database; SQLite's LOWER() knows only ASCII)."""
    return re.findall(r"[^\W_]+", text.lower())


def lead_name_search(name: str) -> str:
    """The searchable form of a name (Lead.name_search): its words between single spaces,
    with one before and one after (" anna petrova "), so that "the name begins with w" is
    `LIKE ' w%'` and "w is a word of the name" is `LIKE '% w %'`; "" for no words."""
    words = search_words(name)
    return f" {' '.join(words)} " if words else ""


def phone_search_digits(term: str) -> str | None:
    """The digits of a search term that looks like (part of) a phone number written in any
    usual way ("+7 (912) 345", "912-345-67"), or None. Used to match the stored E.164 form."""
    text = term.strip()
    if not text or any(ch not in "0123456789+-() ./" for ch in text):
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits or None


def email_normalise(raw: str) -> str:
    """An email address lower-cased (the whole address: mailbox providers ignore case, and
    one spelling lets search and the profile rule compare them); "" for an empty value.
    Raises DomainError(field="email") for an invalid address."""
    if not isinstance(raw, str):
        raise DomainError(gettext("Must be a string."), field="email")
    text = raw.strip().lower()
    if not text:
        return ""
    _no_nul(text, "email")
    if len(text) > EMAIL_MAX_LENGTH:
        raise DomainError(_at_most_characters(EMAIL_MAX_LENGTH), field="email", code="max_length")
    try:
        _email_validator(text)
    except ValidationError:
        raise DomainError(gettext("Enter a valid email address."), field="email", code="invalid_email") from None
    return text


def name_normalise(raw: str) -> str:
    if not isinstance(raw, str):
        raise DomainError(gettext("Must be a string."), field="name")
    text = raw.strip()
    _no_nul(text, "name")
    if len(text) > LEAD_NAME_MAX_LENGTH:
        raise DomainError(_at_most_characters(LEAD_NAME_MAX_LENGTH), field="name", code="max_length")
    return text


def message_clean(raw: str) -> str:
    """A contact's message: kept as written (no stripping inside), at most 4,000 characters."""
    if not isinstance(raw, str):
        raise DomainError(gettext("Must be a string."), field="message")
    _no_nul(raw, "message")
    if len(raw) > MESSAGE_MAX_LENGTH:
        raise DomainError(_at_most_characters(MESSAGE_MAX_LENGTH), field="message", code="max_length")
    return raw if raw.strip() else ""


def metadata_clean(raw: object) -> dict:
    """A contact's metadata: a flat JSON object of string keys to scalar values (string,
    number, true/false, null), at most METADATA_MAX_BYTES serialised as compact UTF-8 JSON.
    Raises DomainError(field="metadata") naming the first key at fault."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DomainError(gettext("Must be a JSON object."), field="metadata", code="invalid")
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise DomainError(gettext("Keys must be non-empty strings."), field="metadata", code="invalid")
        if len(key) > METADATA_KEY_MAX_LENGTH:
            raise DomainError(
                ngettext(
                    "Key %(key)s... is longer than %(max)d character.",
                    "Key %(key)s... is longer than %(max)d characters.",
                    METADATA_KEY_MAX_LENGTH,
                )
                % {"key": repr(key[:20]), "max": METADATA_KEY_MAX_LENGTH},
                field="metadata",
                code="invalid",
            )
        if isinstance(value, dict | list):
            raise DomainError(
                gettext("%(key)s: values must be strings, numbers, true/false or null, not nested.")
                % {"key": repr(key)},
                field="metadata",
                code="not_flat",
            )
        if not (value is None or isinstance(value, str | bool | int | float)):
            raise DomainError(
                gettext("%(key)s: unsupported value.") % {"key": repr(key)}, field="metadata", code="invalid"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise DomainError(
                gettext("%(key)s: numbers must be finite.") % {"key": repr(key)}, field="metadata", code="invalid"
            )
        # PostgreSQL's jsonb refuses the NUL character in keys and strings.
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise DomainError(
                gettext("Null characters are not allowed."), field="metadata", code="null_characters_not_allowed"
            )
    try:
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except UnicodeEncodeError:
        raise DomainError(gettext("Strings must be valid Unicode."), field="metadata", code="invalid") from None
    if size > METADATA_MAX_BYTES:
        message = ngettext(
            "At most %(max)d byte as JSON (%(size)d sent).",
            "At most %(max)d bytes as JSON (%(size)d sent).",
            METADATA_MAX_BYTES,
        ) % {"max": METADATA_MAX_BYTES, "size": size}
        raise DomainError(message, field="metadata", code="max_length")
    return raw


@dataclass(frozen=True)
class LeadProfile:
    """What one contact says about its lead; empty strings say nothing."""

    name: str = ""
    phone: str = ""
    email: str = ""

    @classmethod
    def clean(cls, *, name: str = "", phone: str = "", email: str = "") -> LeadProfile:
        """Normalised, or DomainError naming the field at fault."""
        return cls(name=name_normalise(name), phone=phone_normalise(phone), email=email_normalise(email))


def lead_touch(*, external_id: str, profile: LeadProfile | None = None, seen_at=None) -> tuple[Lead, bool]:
    """Find or create the lead, apply the profile rule (a non-empty value replaces, an empty
    one keeps) and move `last_seen_at` forward, in one statement: INSERT ... ON CONFLICT DO
    UPDATE ... RETURNING. Returns (lead, created).

    Concurrency: the statement takes the lead's row lock (or the unique index entry of a new
    one) until the caller's transaction ends, so two contacts of one lead serialise here,
    before any operator is locked; a concurrent first contact of a new lead waits on the
    index entry and then updates the row the winner inserted (no savepoint, no retry). The
    later commit's non-empty values win. `last_seen_at` never moves backwards.

    "created" compares the row's creation time with ours: equal only for the row we inserted
    (microsecond timestamps; an existing row was created earlier)."""
    upsert = LeadUpsert.of(external_id=external_id, profile=profile, seen_at=seen_at)
    with connection.cursor() as cursor:
        cursor.execute(upsert.sql, upsert.params)
        return upsert.lead(cursor.fetchone())


@dataclass(frozen=True)
class LeadUpsert:
    """`lead_touch`'s statement, for a caller that runs it as part of a bigger one (the
    intake's, crm.services.intake_claim.lead_touch_and_read): its SQL and parameters, and
    `lead()` to read back the first `COLUMNS` columns of its row."""

    sql: str
    params: list
    normalised: str
    now: object  # the datetime written as created_at and last_seen_at

    COLUMNS = 6

    @classmethod
    def of(cls, *, external_id: str, profile: LeadProfile | None = None, seen_at=None) -> LeadUpsert:
        normalised = lead_normalise_external_id(external_id)
        profile = profile or LeadProfile()
        now = seen_at or timezone.now()
        db_now = connection.ops.adapt_datetimefield_value(now)
        params = [
            normalised,
            profile.name,
            lead_name_search(profile.name),
            profile.phone,
            profile.email,
            db_now,
            db_now,
        ]
        return cls(sql=_lead_upsert_sql(), params=params, normalised=normalised, now=now)

    def lead(self, row) -> tuple[Lead, bool]:
        lead_id, name, phone, email, created_at, last_seen_at = row[: self.COLUMNS]
        created_at, last_seen_at = db_datetime(created_at), db_datetime(last_seen_at)
        lead = Lead(
            id=lead_id,
            external_id=self.normalised,
            name=name,
            name_search=lead_name_search(name),
            phone=phone,
            email=email,
            created_at=created_at,
            last_seen_at=last_seen_at,
        )
        return lead, created_at == self.now


def _lead_upsert_sql() -> str:
    table = connection.ops.quote_name(Lead._meta.db_table)

    def keep(column: str, when: str | None = None) -> str:
        when = when or column
        return f"{column} = CASE WHEN excluded.{when} <> '' THEN excluded.{column} ELSE {table}.{column} END"

    return (
        f"INSERT INTO {table} (external_id, name, name_search, phone, email, created_at, last_seen_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT (external_id) DO UPDATE SET {keep('name')}, {keep('name_search', when='name')}, "
        f"{keep('phone')}, {keep('email')}, "
        f"last_seen_at = CASE WHEN excluded.last_seen_at > {table}.last_seen_at "
        f"THEN excluded.last_seen_at ELSE {table}.last_seen_at END "
        "RETURNING id, name, phone, email, created_at, last_seen_at"
    )
