"""ROOT_URLCONF of the bench settings: the product's URLs plus the baseline endpoint."""

from django.urls import path

from bench.views import BaselineIntakeView
from minicrm_project.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("bench/baseline/", BaselineIntakeView.as_view(), name="bench-baseline"),
]
