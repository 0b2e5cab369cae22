from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.selectors import STATS_WINDOWS, distribution_stats, stats_window_since


class Command(BaseCommand):
    help = "Configured versus actual routing per source and operator, load and waiting queue, as a table."

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, help="Only this source id.")
        parser.add_argument(
            "--since", help=f"Window start: an ISO-8601 time or one of {', '.join(STATS_WINDOWS)} (default: all time)."
        )

    def handle(self, *args, **options):
        since = self._since(options.get("since"))
        rows = distribution_stats(source_id=options.get("source"), since=since)
        if not rows:
            raise CommandError("No such source." if options.get("source") else "No sources configured.")
        window = f"since {since:%Y-%m-%d %H:%M %Z}" if since else "all time"
        for src in rows:
            wait = (
                f", oldest waiting {self._duration(src['oldest_wait_seconds'])}" if src["oldest_wait_seconds"] else ""
            )
            self.stdout.write(
                f"\n{src['source_name']} (#{src['source_id']}, {src['strategy']}"
                f"{', affinity' if src['affinity'] else ''}) — {src['contacts']} contacts {window}, "
                f"{src['assigned']} assigned, {src['waiting']} waiting now{wait}"
            )
            header = f"  {'operator':<20} {'weight':>6} {'config %':>9} {'actual %':>9} {'count':>7} {'load':>9}  state"
            self.stdout.write(header)
            for op in src["operators"]:
                state = "inactive" if not op["is_active"] else ("full" if op["is_full"] else "")
                self.stdout.write(
                    f"  {op['operator_name'][:20]:<20} {op['weight']:>6} {op['configured_share'] * 100:>8.1f}% "
                    f"{op['actual_share'] * 100:>8.1f}% {op['contacts']:>7} "
                    f"{str(op['open_load']) + '/' + str(op['max_load']):>9}  {state}"
                )
        self.stdout.write(f"\n{len(rows)} sources.")

    @staticmethod
    def _since(value):
        if not value:
            return None
        if value in STATS_WINDOWS:
            return stats_window_since(value)
        parsed = parse_datetime(value)
        if parsed is None:
            raise CommandError(f"--since: {value!r} is neither an ISO-8601 time nor one of {', '.join(STATS_WINDOWS)}.")
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)

    @staticmethod
    def _duration(seconds: float) -> str:
        minutes, sec = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"
