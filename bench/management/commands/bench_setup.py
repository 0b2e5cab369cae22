import json

from django.core.management.base import BaseCommand

from bench.fixtures import bench_setup


class Command(BaseCommand):
    help = "Bench only: create the operators, sources, weights, a bot and a staff user; print JSON (with keys)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(bench_setup()))
