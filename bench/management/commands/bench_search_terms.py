import json

from django.core.management.base import BaseCommand

from bench.fixtures import bench_search_terms


class Command(BaseCommand):
    help = "Bench only: print, as JSON, lead search terms taken from the first leads (names, phones, emails)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=300)

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(bench_search_terms(count=options["count"]), ensure_ascii=False))
