"""Structured log of every intake decision: one line of key=value pairs per registered (or
replayed) contact, logger `crm.intake`. Written by the API layer after the transaction,
so the intake itself stays free of I/O."""

import logging
import time

from crm.logfmt import kv

logger = logging.getLogger("crm.intake")


def intake_log(*, user, body: dict, key: str | None, replayed: bool, started: float) -> None:
    logger.info(
        kv(
            event="intake",
            contact=body.get("id"),
            source=body.get("source_id"),
            operator=body.get("operator_id"),
            reason=body.get("unassigned_reason") or None,
            client=user.pk,
            idempotency="none" if key is None else ("replayed" if replayed else "new"),
            duration_ms=f"{(time.monotonic() - started) * 1000:.1f}",
        )
    )
