"""Request latency for Prometheus (crm.metrics): first in MIDDLEWARE, so it times everything
Django does for a request."""

from crm.metrics import Stopwatch, request_observed

# Any other method is counted as "other": label values never come from input.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        watch = Stopwatch()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The view's URL name, not the path: /api/v1/contacts/<id>/ is one series, not one per id.
        view = (match.view_name or match.route) if match is not None else "unmatched"
        request_observed(
            view=view,
            method=request.method if request.method in METHODS else "other",
            status=response.status_code,
            seconds=watch.seconds,
        )
        return response
