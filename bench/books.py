"""Checking the books after an intake run: every request the load generator sent is a contact,
assigned or waiting; no operator is over capacity; the stored loads agree with a recount
(`bench.fixtures.bench_check`, run in the database through a management command)."""

import time

from bench.servers import Servers


def snapshot(servers: Servers, db: dict) -> dict:
    return servers.manage_json(db, "bench_snapshot")


def settle(servers: Servers, db: dict) -> dict:
    """Wait until requests that were in flight when wrk stopped have committed."""
    snap = snapshot(servers, db)
    for _ in range(20):
        time.sleep(0.5)
        again = snapshot(servers, db)
        if again == snap:
            return again
        snap = again
    return snap


def check_intake_run(servers: Servers, db: dict, *, before: dict, run: dict) -> dict:
    """The books after one intake run that started at the snapshot `before`."""
    settle(servers, db)
    check = servers.manage_json(
        db, "bench_check", "--after-contact-id", str(before["last_contact_id"]), "--sent", str(run["sent"])
    )
    # Every 2xx the client saw is a contact; the ones in flight at the stop are contacts the
    # client never heard about, so created may exceed 2xx by at most that.
    check["ok"] = check["ok"] and run["ok_2xx"] <= check["created"]
    return check


def verdict(check: dict) -> str:
    """One line for the progress log."""
    return (
        f"check: sent {check['sent']} = created {check['created']} = assigned {check['assigned']} + waiting "
        f"{check['waiting']}, overshoot {len(check['overshoot'])}, load mismatches {len(check['load_mismatches'])}"
        f" -> {'OK' if check['ok'] else 'FAILED'}"
    )


def table_cell(check: dict | None) -> str:
    """The check column of the report's tables."""
    if not check:
        return "—"
    return (
        f"{'OK' if check['ok'] else 'FAILED'}: sent {check['sent']} = {check['assigned']} assigned + "
        f"{check['waiting']} waiting; overshoot {len(check['overshoot'])}; "
        f"load mismatches {len(check['load_mismatches'])}"
    )
