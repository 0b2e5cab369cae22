"""Leads: the end clients, identified by their external id, with the profile their contacts told us."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Lower, Reverse, Trim
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models.limits import EMAIL_MAX_LENGTH, EXTERNAL_ID_MAX_LENGTH, LEAD_NAME_MAX_LENGTH, PHONE_MAX_LENGTH

# The lead search's GIN indexes' pending list, in kB (PostgreSQL's minimum; see Lead.Meta).
GIN_PENDING_LIST_LIMIT_KB = 64


class Lead(models.Model):
    """An end client, identified by a normalised external id (stripped, lower-cased), with the
    profile his contacts told us: name, phone (E.164), email (lower-cased). `created_at` is
    when he was first seen, `last_seen_at` his latest contact. Only crm.services.leads writes
    the profile (a later non-empty value wins, an empty one never erases)."""

    external_id = models.CharField(_("external id"), max_length=EXTERNAL_ID_MAX_LENGTH, unique=True)
    name = models.CharField(_("name"), max_length=LEAD_NAME_MAX_LENGTH, blank=True, default="")
    # The name's words for search, lower-cased by Python, between spaces (" anna petrova ";
    # crm.services.leads.lead_name_search): SQLite's LOWER() knows only ASCII, and the spaces
    # make "begins with" and "has the word" plain LIKEs.
    name_search = models.TextField(blank=True, default="", editable=False)
    phone = models.CharField(_("phone"), max_length=PHONE_MAX_LENGTH, blank=True, default="")
    email = models.CharField(_("email"), max_length=EMAIL_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    # Set by crm.services.lead_erasure.lead_erase: the profile, the external id (now a random token)
    # and the contacts' messages and metadata were erased on request.
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["id"]
        indexes = [
            # Admin's date hierarchy on leads.
            models.Index(fields=["created_at"], name="crm_lead_created_idx"),
            # Lead search (crm.selectors.lead_search), OR-ed conditions each answered by its own
            # index (created on PostgreSQL only, see migrations 0006_lead_search_indexes and 0011_lead_search_btrees):
            # `external_id LIKE '%term%'` by a trigram GIN index; the name's whole words,
            # `to_tsvector('simple', name_search) @@ 'anna & petrova'`, by a full-text GIN
            # index (a name's trigrams, "ov " of every Ivanov, are in most rows);
            # `name_search LIKE ' anna pe%'`, `email LIKE 'term%'`, `phone LIKE '+digits%'`
            # and `REVERSE(phone) LIKE 'stigid%'` (a number's end) by B-trees in pattern order.
            # Both GIN indexes keep a pending list of at most 64 kB (8 pages) instead of the
            # server's 4 MB: every search reads the whole pending list, and under a steady intake
            # a 4 MB list (about 5,000 new leads) made a search of 10^6 leads 3-4 ms slower; a
            # small list costs an insert about 9 us more (migration 0015, docs/performance.md).
            GinIndex(
                fields=["external_id"],
                opclasses=["gin_trgm_ops"],
                name="crm_lead_external_id_trgm",
                gin_pending_list_limit=GIN_PENDING_LIST_LIMIT_KB,
            ),
            GinIndex(
                SearchVector("name_search", config="simple"),
                name="crm_lead_name_fts",
                gin_pending_list_limit=GIN_PENDING_LIST_LIMIT_KB,
            ),
            models.Index(fields=["name_search"], opclasses=["text_pattern_ops"], name="crm_lead_name_prefix"),
            models.Index(fields=["email"], opclasses=["varchar_pattern_ops"], name="crm_lead_email_prefix"),
            models.Index(fields=["phone"], opclasses=["varchar_pattern_ops"], name="crm_lead_phone_prefix"),
            models.Index(OpClass(Reverse("phone"), name="text_pattern_ops"), name="crm_lead_phone_suffix"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(external_id=""), name="crm_lead_external_id_not_blank"),
            models.CheckConstraint(
                condition=Q(external_id=Lower(Trim("external_id"))), name="crm_lead_external_id_normalised"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("external_id"), EXTERNAL_ID_MAX_LENGTH),
                name="crm_lead_external_id_length",
            ),
            models.CheckConstraint(condition=Q(name=Trim("name")), name="crm_lead_name_trimmed"),
            # E.164: empty, or "+" and 3 to 15 digits (the digits are the service's to check).
            models.CheckConstraint(
                condition=Q(phone="")
                | (
                    Q(phone__startswith="+")
                    & Q(GreaterThanOrEqual(Length("phone"), 4))
                    & Q(LessThanOrEqual(Length("phone"), PHONE_MAX_LENGTH))
                ),
                name="crm_lead_phone_e164",
            ),
            models.CheckConstraint(condition=Q(email=Lower(Trim("email"))), name="crm_lead_email_normalised"),
        ]

    def __str__(self) -> str:
        return self.external_id
