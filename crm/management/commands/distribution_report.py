from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.management.base import LocalisedCommand
from crm.selectors import STATS_WINDOWS, distribution_stats, stats_window_since


class Command(LocalisedCommand):
    help = gettext_lazy("Configured versus actual routing per source and operator, load and waiting queue, as a table.")

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, help=gettext_lazy("Only this source id."))
        parser.add_argument(
            "--since",
            help=format_lazy(
                gettext_lazy("Window start: an ISO-8601 time or one of {windows} (default: all time)."),
                windows=", ".join(STATS_WINDOWS),
            ),
        )

    def handle(self, *args, **options):
        since = self._since(options.get("since"))
        rows = distribution_stats(source_id=options.get("source"), since=since)
        if not rows:
            message = gettext("No such source.") if options.get("source") else gettext("No sources configured.")
            raise CommandError(message)
        if since:
            window = gettext("since %(time)s") % {"time": f"{since:%Y-%m-%d %H:%M %Z}"}
        else:
            window = gettext("over all time")
        # (xgettext does not look inside f-strings: the labels are translated first)
        labels = [gettext("operator"), gettext("weight"), gettext("config %"), gettext("actual %")]
        labels += [gettext("count"), gettext("load"), gettext("state")]
        header = "  {:<20} {:>6} {:>9} {:>9} {:>7} {:>9}  {}".format(*labels)
        for src in rows:
            routing = [src["strategy"], gettext("affinity")] if src["affinity"] else [src["strategy"]]
            self.stdout.write(f"\n{src['source_name']} (#{src['source_id']}, {', '.join(routing)})")
            counts = ngettext(
                "%(n)d contact %(window)s; assigned: %(assigned)d, waiting now: %(waiting)d",
                "%(n)d contacts %(window)s; assigned: %(assigned)d, waiting now: %(waiting)d",
                src["contacts"],
            ) % {"n": src["contacts"], "window": window, "assigned": src["assigned"], "waiting": src["waiting"]}
            if src["oldest_wait_seconds"]:
                counts += gettext(", the oldest for %(duration)s") % {
                    "duration": self._duration(src["oldest_wait_seconds"])
                }
            self.stdout.write(f"  {counts}")
            self.stdout.write(header)
            for op in src["operators"]:
                state = gettext("inactive") if not op["is_active"] else (gettext("full") if op["is_full"] else "")
                self.stdout.write(
                    f"  {op['operator_name'][:20]:<20} {op['weight']:>6} {op['configured_share'] * 100:>8.1f}% "
                    f"{op['actual_share'] * 100:>8.1f}% {op['contacts']:>7} "
                    f"{str(op['open_load']) + '/' + str(op['max_load']):>9}  {state}"
                )
        self.stdout.write("\n" + ngettext("%(n)d source.", "%(n)d sources.", len(rows)) % {"n": len(rows)})

    @staticmethod
    def _since(value):
        if not value:
            return None
        if value in STATS_WINDOWS:
            return stats_window_since(value)
        parsed = parse_datetime(value)
        if parsed is None:
            raise CommandError(
                gettext("--since: %(value)s is neither an ISO-8601 time nor one of %(windows)s.")
                % {"value": repr(value), "windows": ", ".join(STATS_WINDOWS)}
            )
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)

    @staticmethod
    def _duration(seconds: float) -> str:
        minutes, sec = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"
