import json

from django.core.management.base import BaseCommand

from crm.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from crm.selectors import webhook_backlog


class Command(BaseCommand):
    help = "Bench only: create or toggle the one webhook endpoint, or print the outbox's state as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--url", help="Create the endpoint (every event type) for this URL.")
        parser.add_argument("--active", choices=["on", "off"], help="Turn the endpoint on or off.")

    def handle(self, *args, url=None, active=None, **options):
        if url:
            # Written directly, not through the service: the bench's receiver is on loopback.
            WebhookEndpoint.objects.create(url=url, events=list(WebhookEventType.values), secret="whsec_YmVuY2g=")
        if active:
            WebhookEndpoint.objects.update(is_active=active == "on")
        status = webhook_backlog()
        status["succeeded"] = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count()
        self.stdout.write(json.dumps(status))
