from rest_framework.routers import SimpleRouter

from crm.api import me_views, views, webhook_views


class OptionalSlashRouter(SimpleRouter):
    """Every path answers with and without its trailing slash, as clients use both spellings."""

    def __init__(self):
        super().__init__()
        # SimpleRouter's argument is a boolean; the pattern itself takes a regex.
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("operators", views.OperatorViewSet, basename="operator")
router.register("sources", views.SourceViewSet, basename="source")
router.register("operator-sources", views.OperatorSourceViewSet, basename="operator-source")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("me/contacts", me_views.MyContactViewSet, basename="me-contact")
router.register("me", me_views.MeViewSet, basename="me")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("webhooks", webhook_views.WebhookEndpointViewSet, basename="webhook")
router.register("stats/distribution", views.DistributionViewSet, basename="stats-distribution")

urlpatterns = router.urls
