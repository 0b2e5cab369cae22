import json

from django.core.management.base import BaseCommand

from bench.fixtures import bench_check


class Command(BaseCommand):
    help = "Bench only: check the books after a run (created == sent, no overshoot, loads match); print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--after-contact-id", type=int, required=True)
        parser.add_argument("--sent", type=int, required=True)

    def handle(self, *args, **options):
        result = bench_check(after_contact_id=options["after_contact_id"], sent=options["sent"])
        self.stdout.write(json.dumps(result))
