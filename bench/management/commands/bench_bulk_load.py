import json

from django.core.management.base import BaseCommand

from bench.fixtures import bench_bulk_load


class Command(BaseCommand):
    help = "Bench only: bulk-load closed contacts (two per lead) until the table holds --contacts rows; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, required=True)

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(bench_bulk_load(contacts=options["contacts"])))
