"""syncd: a WhatsApp media library server and the daemon that mirrors it into local folders."""

__version__ = "0.1.0"
