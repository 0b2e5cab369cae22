from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from crm.api.metrics import MetricsView
from crm.views import healthz, healthz_webhooks, healthz_worker

handler400 = "crm.views.api_bad_request"
handler403 = "crm.views.api_permission_denied"
handler404 = "crm.views.api_not_found"
handler500 = "crm.views.api_server_error"

urlpatterns = [
    path("", RedirectView.as_view(url="/docs", permanent=False)),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^healthz/worker/?$", healthz_worker, name="healthz_worker"),
    re_path(r"^healthz/webhooks/?$", healthz_webhooks, name="healthz_webhooks"),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("crm.api.urls")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
