"""Standard Webhooks signatures (https://www.standardwebhooks.com/): HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with a `whsec_` secret, as the `standardwebhooks`
package computes it. Several signatures, space-separated, let a rotated secret keep working
for a grace period."""

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# 32 random bytes: the specification asks for 24 to 64.
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign_headers(*, message_id: str, body: str, secrets_: list[str], timestamp: datetime | None = None) -> dict:
    """The three headers of a delivery. `timestamp` is the real time of sending (receivers
    refuse messages more than a few minutes old or new), not the worker's scheduling clock."""
    timestamp = (timestamp or datetime.now(UTC)).astimezone(UTC)
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
