"""Access and reliability: bot bindings, API keys, idempotency keys, rate-limit buckets."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken

from crm.models.contacts import Contact
from crm.models.routing import Source

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class ApiKey(AuthToken):
    """knox's token as the admin shows it: named "API key" in the user's language (knox's
    model has an untranslated "auth token"), and shown by its public prefix and owner rather
    than by its digest, a 128-character hash. No table of its own (a proxy)."""

    class Meta:
        proxy = True
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        # Who may read and revoke keys stays knox's permissions (knox.view_authtoken, ...):
        # no second set of permissions for the same rows.
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.token_key}… ({self.user})"


class BotSource(models.Model):
    """A bot may post only to the sources it is bound to; a bot bound to none may post to
    every source. The source is PROTECTed: deleting a bound source would silently widen the
    bot's rights to every source."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_sources", verbose_name=_("bot")
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="bot_bindings", verbose_name=_("source"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("bot source binding")
        verbose_name_plural = _("bot source bindings")
        ordering = ["id"]
        constraints = [
            # Its index also serves the intake's "sources of this bot" check.
            models.UniqueConstraint(fields=["user", "source"], name="crm_botsource_pair_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.source}"


class IdempotencyKey(models.Model):
    """The stored outcome of a request sent with an `Idempotency-Key`, per client (user).

    The row is inserted in the same transaction as the contact it produces, so it exists
    exactly when the contact does: a crash mid-request leaves neither, and the retry is
    processed afresh. `fingerprint` is a hash of the request (method, path, body): the same
    key with another body is refused."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys", verbose_name=_("client")
    )
    key = models.CharField(_("key"), max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"))
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("contact")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)  # purge of expired keys

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        ordering = ["-id"]
        constraints = [
            # The one guarantee: a client's key is processed once. Concurrent twins wait on
            # this index until the first commits, then replay its response.
            models.UniqueConstraint(fields=["user", "key"], name="crm_idempotencykey_user_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="crm_idempotencykey_key_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.key}"


class ThrottleBucket(models.Model):
    """Rate-limit state of one client in one scope (crm.api.throttling, when the cache is not
    Redis): the generic cell rate algorithm's "theoretical arrival time". Each request reads
    and moves it in one atomic upsert; a row whose time has passed means the same as no row."""

    key = models.CharField(_("client and scope"), max_length=200, primary_key=True)
    # Seconds since the epoch; a float keeps sub-millisecond emission intervals (e.g. 100/s).
    tat = models.FloatField(_("theoretical arrival time"))

    class Meta:
        verbose_name = _("rate limit bucket")
        verbose_name_plural = _("rate limit buckets")

    def __str__(self) -> str:
        return self.key
