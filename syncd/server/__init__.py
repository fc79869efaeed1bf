"""The library server: per-participant media library with quota and change feed (DESIGN §3)."""
