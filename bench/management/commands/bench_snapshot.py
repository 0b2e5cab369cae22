import json

from django.core.management.base import BaseCommand

from bench.fixtures import bench_snapshot


class Command(BaseCommand):
    help = "Bench only: print the last contact id and the table sizes as JSON."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(bench_snapshot()))
