"""The sync daemon: mirrors one user's library into local folders (DESIGN §4)."""
