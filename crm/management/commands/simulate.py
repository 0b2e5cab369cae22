import random

from django.core.management.base import BaseCommand, CommandError

from crm.errors import DomainError
from crm.selectors import routing_simulate


class Command(BaseCommand):
    help = (
        "What-if: how N new contacts of a source would spread under the current configuration "
        "(weights, strategy, loads, capacities), if nobody closed anything meanwhile. Writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, required=True, help="Source id.")
        parser.add_argument("--contacts", type=int, required=True, help="How many new contacts to simulate.")
        parser.add_argument("--seed", type=int, help="Random seed, for a repeatable run.")

    def handle(self, *args, **options):
        if options["contacts"] < 1 or options["contacts"] > 10_000_000:
            raise CommandError("--contacts must be between 1 and 10000000.")
        rng = random.Random(options["seed"]) if options["seed"] is not None else None
        total = options["contacts"]

        def progress(done: int) -> None:
            self.stderr.write(f"  simulated {done}/{total}")

        try:
            result = routing_simulate(
                source_id=options["source"], contacts=total, rng=rng, progress=progress if total >= 10_000 else None
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        source = result["source"]
        self.stdout.write(f"{source.name} (#{source.pk}, {source.strategy}): {total} new contacts, simulated")
        self.stdout.write(
            f"  {'operator':<20} {'weight':>6} {'config %':>9} {'got':>7} {'got %':>7} {'load before→after':>18}  now"
        )
        for op in result["operators"]:
            loads = f"{op['load_before']}→{op['load_after']}/{op['max_load']}"
            self.stdout.write(
                f"  {op['name'][:20]:<20} {op['weight']:>6} {op['configured_share'] * 100:>8.1f}% {op['assigned']:>7} "
                f"{op['share'] * 100:>6.1f}% {loads:>18}  {op['excluded_now'] or 'eligible'}"
            )
        reasons = ", ".join(f"{k}: {v}" for k, v in result["waiting_reasons"].items()) or "none"
        self.stdout.write(f"Would wait: {result['waiting']} ({reasons}). Nothing was written.")
