"""Outbound gateways: sending library files to a WhatsApp contact through a user's hook."""
