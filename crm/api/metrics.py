"""GET /metrics: the Prometheus exposition (crm.metrics). Not public: a staff user's key
(`Authorization: Token ...`, as for the API), or a client address listed in
METRICS_ALLOWED_ADDRESSES (e.g. the Prometheus server's). Not throttled (a scraper asks every
few seconds) and not part of the API's OpenAPI schema."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from crm.metrics import metrics_text


class MetricsAccess(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        if user and user.is_authenticated and user.is_active and user.is_staff:
            return True
        # REMOTE_ADDR: the connection's address, never X-Forwarded-For (the client writes it).
        return request.META.get("REMOTE_ADDR", "") in settings.METRICS_ALLOWED_ADDRESSES


@extend_schema(exclude=True)
class MetricsView(APIView):
    permission_classes = [MetricsAccess]
    throttle_classes: list = []

    def get(self, request):
        return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
