"""Incoming WhatsApp media: gateway webhooks (WAHA, Meta Cloud API) filed into each sender's
participant folder by a persistent background fetch queue. `routes.setup_ingest` wires it."""
