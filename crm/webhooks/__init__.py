"""Outgoing webhooks' plumbing: signing (Standard Webhooks) and the guarded HTTP transport.
The rules (who gets what, when, how often) live in crm.services.webhooks and
crm.services.webhook_outbox."""
