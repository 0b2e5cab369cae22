"""Access and audit: the routing history, bots' source bindings, stored idempotency keys and
API keys. Mostly read-only: history stays as it was written, keys are issued by commands."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from knox.models import AuthToken

from crm.models import ApiKey, BotSource, IdempotencyKey, RoutingChange


@admin.register(RoutingChange)
class RoutingChangeAdmin(admin.ModelAdmin):
    """Who changed which operator, source or weight, and when. Read-only: history."""

    list_display = ["created_at", "actor_name", "action", "object_type", "object_id", "object_repr", "changes"]
    list_filter = ["object_type", "action", "actor_name"]
    search_fields = ["object_repr", "actor_name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BotSource)
class BotSourceAdmin(admin.ModelAdmin):
    """Bots bound to sources. A bot with no binding may post to every source."""

    verbose_name_accusative = pgettext_lazy("accusative", "bot source binding")
    index_section = "access"

    list_display = ["user", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["user__username", "source__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["source"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    index_section = "access"
    list_display = ["key", "user", "response_status", "contact", "created_at"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "key", "fingerprint", "response_status", "response_body", "contact", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Nothing on a key can be changed (every field is read-only): a page to read, without
        # Save buttons; staff who may change keys still delete them.
        return False


# API keys: knox's own admin lists digests under an untranslated "auth token"; ours lists the
# proxy ApiKey (named in the user's language) by its public prefix, and deleting a key (one by
# one, or "Delete selected" on the list) revokes it at once.
admin.site.unregister(AuthToken)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    index_section = "access"
    # knox's fields have untranslated names ("Token key", "Expiry"): shown through ours.
    list_display = ["prefix", "owner", "created_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["token_key", "user__username"]
    fields = list_display
    readonly_fields = fields

    @admin.display(description=_("key prefix"), ordering="token_key")
    def prefix(self, obj):
        return obj.token_key

    @admin.display(description=_("user"), ordering="user__username")
    def owner(self, obj):
        return obj.user

    @admin.display(description=_("created"), ordering="created")
    def created_at(self, obj):
        return obj.created

    @admin.display(description=_("expires"), ordering="expiry")
    def expires_at(self, obj):
        return obj.expiry

    def has_add_permission(self, request):
        return False  # keys are issued by `manage.py create_bot` / `create_api_token`, shown once

    def has_change_permission(self, request, obj=None):
        return False

    # Who may read and revoke keys stays knox's permissions, as before the proxy: holding the
    # crm app's permissions does not make one the keeper of everybody's keys.
    def has_module_permission(self, request):
        return request.user.has_module_perms("knox")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("knox.view_authtoken") or request.user.has_perm("knox.change_authtoken")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("knox.delete_authtoken")
