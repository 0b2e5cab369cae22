"""Sources (bots): their form, the list with weights, shares and waiting counts. Saves go
through routing_config.source_*."""

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.admin.display import CSS, percent
from crm.admin.service_bridge import NulSafeSearchMixin, ServiceFormMixin, adopt
from crm.admin.weights import LINK_MESSAGES, LinksSavedByServicesMixin, OperatorWeightInline
from crm.models import Contact, Source
from crm.services import routing_config


class SourceAdminForm(ServiceFormMixin, forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "strategy", "affinity"]


@admin.register(Source)
class SourceAdmin(NulSafeSearchMixin, LinksSavedByServicesMixin, admin.ModelAdmin):
    form = SourceAdminForm
    list_display = ["name", "weights_display", "waiting_display", "strategy", "affinity"]
    search_fields = ["name"]
    ordering = ["name"]
    fields = ["name", "strategy", "affinity", "created_at"]
    readonly_fields = ["created_at"]
    list_filter = ["strategy", "affinity"]
    inlines = [OperatorWeightInline]
    list_per_page = 50
    show_full_result_count = False
    service_messages = {
        **LINK_MESSAGES,
        ("name", "unique"): _("A source with this name already exists (names are compared ignoring case)."),
        ("name", "blank"): _("The name may not be blank."),
    }

    class Media:
        css = CSS

    def get_queryset(self, request):
        # Weights and waiting counts for a page in two queries, however many rows. The waiting
        # count is a correlated subquery (served by the partial "waiting" index), not a JOIN
        # with GROUP BY, so the list's COUNT(*) never touches the contacts table.
        waiting = (
            Contact.objects.waiting()
            .filter(source=OuterRef("pk"))
            .order_by()
            .values("source")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("links__operator")
            .annotate(waiting=Coalesce(Subquery(waiting), 0))
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("operators: weight and share"))
    def weights_display(self, obj):
        links = sorted(obj.links.all(), key=lambda link: (-link.weight, link.operator.name.lower()))
        if not links:
            return format_html('<span class="crm-muted">{}</span>', gettext("no operators"))
        total = sum(link.weight for link in links)
        return format_html(
            '<ul class="crm-weights">{}</ul>',
            format_html_join(
                "",
                "<li>{}: {} ({} %){}</li>",
                (
                    (
                        link.operator.name,
                        link.weight,
                        percent(link.weight, total, sign=False) if total else "0",
                        format_html(' <span class="crm-badge crm-inactive">{}</span>', gettext("inactive"))
                        if not link.operator.is_active
                        else "",
                    )
                    for link in links
                ),
            ),
        )

    @admin.display(description=_("waiting"), ordering="waiting")
    def waiting_display(self, obj):
        if not obj.waiting:
            return "0"
        url = reverse("admin:crm_contact_changelist") + f"?source__id__exact={obj.pk}&waiting=yes"
        return format_html('<a href="{}"><span class="crm-badge crm-waiting">{}</span></a>', url, obj.waiting)

    def save_model(self, request, obj, form, change):
        data = {key: form.cleaned_data[key] for key in ("name", "strategy", "affinity")}
        if change:
            self.call_service(request, routing_config.source_update, obj=obj, source_id=obj.pk, **data)
        else:
            adopt(obj, self.call_service(request, routing_config.source_create, obj=obj, **data))
