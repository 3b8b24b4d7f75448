"""Call records: event bus, store, recorder, redaction, handoff cards, webhooks, supervisor control, alerts."""
