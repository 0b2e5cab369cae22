import random

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.errors import DomainError
from crm.management.base import LocalisedCommand
from crm.models import Exclusion, UnassignedReason
from crm.selectors import routing_simulate


class Command(LocalisedCommand):
    help = gettext_lazy(
        "What-if: how N new contacts of a source would spread under the current configuration "
        "(weights, strategy, loads, capacities), if nobody closed anything meanwhile. Writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, required=True, help=gettext_lazy("Source id."))
        parser.add_argument(
            "--contacts", type=int, required=True, help=gettext_lazy("How many new contacts to simulate.")
        )
        parser.add_argument("--seed", type=int, help=gettext_lazy("Random seed, for a repeatable run."))

    def handle(self, *args, **options):
        if options["contacts"] < 1 or options["contacts"] > 10_000_000:
            raise CommandError(gettext("--contacts must be between 1 and 10000000."))
        rng = random.Random(options["seed"]) if options["seed"] is not None else None
        total = options["contacts"]

        def progress(done: int) -> None:
            self.stderr.write("  " + gettext("simulated %(done)d of %(total)d") % {"done": done, "total": total})

        try:
            result = routing_simulate(
                source_id=options["source"], contacts=total, rng=rng, progress=progress if total >= 10_000 else None
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        source = result["source"]
        simulated = ngettext("%(n)d new contact, simulated", "%(n)d new contacts, simulated", total) % {"n": total}
        self.stdout.write(f"{source.name} (#{source.pk}, {source.strategy}): {simulated}")
        # (xgettext does not look inside f-strings: the labels are translated first)
        labels = [gettext("operator"), gettext("weight"), gettext("config %"), gettext("got"), gettext("got %")]
        labels += [gettext("load before→after"), gettext("now")]
        self.stdout.write("  {:<20} {:>6} {:>9} {:>7} {:>7} {:>18}  {}".format(*labels))
        for op in result["operators"]:
            loads = f"{op['load_before']}→{op['load_after']}/{op['max_load']}"
            now = Exclusion(op["excluded_now"]).label if op["excluded_now"] else gettext("eligible")
            self.stdout.write(
                f"  {op['name'][:20]:<20} {op['weight']:>6} {op['configured_share'] * 100:>8.1f}% {op['assigned']:>7} "
                f"{op['share'] * 100:>6.1f}% {loads:>18}  {now}"
            )
        reasons = ", ".join(f"{UnassignedReason(k).label}: {v}" for k, v in result["waiting_reasons"].items())
        self.stdout.write(
            gettext("Would wait: %(n)d (%(reasons)s). Nothing was written.")
            % {"n": result["waiting"], "reasons": reasons or gettext("none")}
        )
