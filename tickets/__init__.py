"""Findings → tickets: deduplication, routing, deadlines, lifecycle and audit, outbox, re-inspection."""
