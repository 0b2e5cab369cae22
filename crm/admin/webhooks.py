"""Staff screens for outgoing webhooks: endpoints with their recent deliveries, and the
buttons "send a test event", "rotate secret" and "retry now". Writes go through
crm.services.webhooks / webhook_outbox, as in the rest of the admin.

A secret is shown once, in the response to the POST that made it (creation or rotation):
it is rendered into that page and never put in a message, a cookie or the session."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.errors import DomainError
from crm.models import WEBHOOK_URL_MAX_LENGTH, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType
from crm.services.webhook_outbox import webhook_send_test
from crm.services.webhooks import (
    webhook_delivery_retry_now,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

RECENT_DELIVERIES = 20


class WebhookEndpointForm(forms.ModelForm):
    # Plain text: the service checks the URL (scheme, host, addresses) and says what is wrong.
    url = forms.CharField(label=_("URL"), max_length=WEBHOOK_URL_MAX_LENGTH)
    events = forms.MultipleChoiceField(
        label=capfirst(_("events")), choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "source", "is_active"]

    def _post_clean(self):
        # The services decide (URL safety, known events) and write; a refusal is shown on its
        # field. This runs inside the admin's changeform transaction, so nothing written here
        # outlives a save that fails later.
        super()._post_clean()
        if self.errors:
            return
        data = self.cleaned_data
        fields = {
            "url": data["url"],
            "events": list(data["events"]),
            "source_id": data["source"].pk if data.get("source") else None,
            "is_active": data["is_active"],
            "description": data["description"],
        }
        try:
            if self.instance.pk is None:
                self.created = webhook_endpoint_create(**fields, actor=self.actor)
            else:
                self.updated = webhook_endpoint_update(endpoint_id=self.instance.pk, **fields)
        except DomainError as exc:
            field = {"source_id": "source"}.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message_for(self.actor))


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    verbose_name_plural = _("recent deliveries")
    fields = [
        "delivery_link",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_response_short",
    ]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        # The newest deliveries only: an endpoint may have millions.
        queryset = super().get_queryset(request)
        ids = list(queryset.order_by("-id").values_list("id", flat=True)[:RECENT_DELIVERIES])
        return queryset.filter(id__in=ids).order_by("-id")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("message"))
    def delivery_link(self, obj):
        url = reverse("admin:crm_webhookdelivery_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.message_id)

    @admin.display(description=_("last response"))
    def last_response_short(self, obj):
        return obj.last_response[:120]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "is_active", "event_list", "source", "health", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["secret_state", "created_at", "created_by"]
    inlines = [WebhookDeliveryInline]
    change_form_template = "admin/crm/webhookendpoint/change_form.html"

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "source", "is_active"]
        return [*fields, "secret_state", "created_at", "created_by"] if obj else fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        # The form's clean already saved through the service; adopt what it wrote.
        saved = getattr(form, "created", None)
        if saved is not None:
            obj.pk = saved.endpoint.pk
            request._crm_new_secret = saved.secret
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_crm_new_secret", None)
        if secret:
            return self._secret_page(request, obj, secret, created=True)
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description=_("events"))
    def event_list(self, obj):
        labels = dict(WebhookEventType.choices)
        return ", ".join(str(labels.get(e, e)) for e in obj.events)

    def get_queryset(self, request):
        retrying = Q(deliveries__status=WebhookDelivery.Status.PENDING, deliveries__attempts__gt=0)
        failed = Q(deliveries__status=WebhookDelivery.Status.FAILED)
        return (
            super()
            .get_queryset(request)
            .select_related("source")
            .annotate(retrying=Count("deliveries", filter=retrying), failed=Count("deliveries", filter=failed))
        )

    @admin.display(description=_("deliveries"))
    def health(self, obj):
        retrying, failed = obj.retrying, obj.failed
        if not retrying and not failed:
            return gettext("ok")
        parts = []
        if retrying:
            parts.append(ngettext("%(n)d retrying", "%(n)d retrying", retrying) % {"n": retrying})
        if failed:
            parts.append(ngettext("%(n)d failed", "%(n)d failed", failed) % {"n": failed})
        return format_html('<span class="crm-failing">{}</span>', ", ".join(parts))

    @admin.display(description=_("signing secret"))
    def secret_state(self, obj):
        if obj.previous_secret_expires_at:
            return gettext("whsec_… (hidden). The previous secret also signs until %(when)s.") % {
                "when": obj.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            }
        return gettext("whsec_… (hidden; shown once when created or rotated)")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        retryable = []
        if str(object_id).isdigit():
            retryable = list(
                WebhookDelivery.objects.filter(endpoint_id=object_id)
                .exclude(status=WebhookDelivery.Status.SUCCEEDED)
                .order_by("-id")[:RECENT_DELIVERIES]
            )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "retryable": retryable})

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/rotate-secret/", self.admin_site.admin_view(self.rotate_view), name=f"{name}_rotate"
            ),
            path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view), name=f"{name}_test"),
            path(
                "<path:object_id>/retry/<int:delivery_id>/",
                self.admin_site.admin_view(self.retry_view),
                name=f"{name}_retry",
            ),
            *super().get_urls(),
        ]

    def _post_with_change_permission(self, request, object_id):
        if request.method != "POST":
            return None, HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        endpoint = WebhookEndpoint.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if endpoint is None:
            return None, HttpResponseRedirect(reverse("admin:crm_webhookendpoint_changelist"))
        return endpoint, None

    def _back(self, endpoint):
        return HttpResponseRedirect(reverse("admin:crm_webhookendpoint_change", args=[endpoint.pk]))

    def _secret_page(self, request, endpoint, secret, *, created):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": endpoint,
            "secret": secret,
            "created": created,
            "title": gettext("Signing secret"),
        }
        response = TemplateResponse(request, "admin/crm/webhookendpoint/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def rotate_view(self, request, object_id):
        endpoint, refused = self._post_with_change_permission(request, object_id)
        if refused:
            return refused
        rotated = webhook_endpoint_rotate_secret(endpoint_id=endpoint.pk)
        return self._secret_page(request, rotated.endpoint, rotated.secret, created=False)

    def test_view(self, request, object_id):
        endpoint, refused = self._post_with_change_permission(request, object_id)
        if refused:
            return refused
        delivery = webhook_send_test(endpoint_id=endpoint.pk)
        self.message_user(
            request,
            gettext("A test message (%(id)s) is queued; the worker sends it within seconds.")
            % {"id": delivery.message_id},
            messages.SUCCESS,
        )
        return self._back(endpoint)

    def retry_view(self, request, object_id, delivery_id):
        endpoint, refused = self._post_with_change_permission(request, object_id)
        if refused:
            return refused
        if not WebhookDelivery.objects.filter(pk=delivery_id, endpoint=endpoint).exists():
            return self._back(endpoint)
        try:
            webhook_delivery_retry_now(delivery_id=delivery_id)
        except DomainError as exc:
            self.message_user(request, exc.message_for(request.user), messages.ERROR)
        else:
            self.message_user(request, gettext("The delivery will be attempted again now."), messages.SUCCESS)
        return self._back(endpoint)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "finished_at", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["number"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    verbose_name_accusative = pgettext_lazy("accusative", "webhook delivery")
    list_display = [
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["message_id"]
    fields = [
        "endpoint",
        "message_id",
        "event",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "give_up_at",
        "last_attempt_at",
        "last_status_code",
        "last_response",
        "delivered_at",
        "created_at",
        "payload",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry selected deliveries now"), permissions=["change"])
    def retry_now(self, request, queryset):
        done = 0
        for delivery_id in queryset.exclude(status=WebhookDelivery.Status.SUCCEEDED).values_list("id", flat=True):
            webhook_delivery_retry_now(delivery_id=delivery_id)
            done += 1
        self.message_user(
            request,
            ngettext(
                "%(n)d delivery will be attempted again now.", "%(n)d deliveries will be attempted again now.", done
            )
            % {"n": done},
            messages.SUCCESS,
        )
