import json

from django.core.management.base import BaseCommand

from bench.backlog import backlog_setup


class Command(BaseCommand):
    help = "Bench only: a source whose only operator is inactive, with --waiting contacts waiting; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--waiting", type=int, required=True)

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(backlog_setup(waiting=options["waiting"])))
