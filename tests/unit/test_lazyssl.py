"""aiohttp imported by the sync client (syncd/lazyssl.py) loads no CA bundle until a connection
needs TLS, and then the same CAs as ever (issue 11 item 4: start-up). Checked in a fresh
interpreter: this one may have imported aiohttp already. (Which commands import aiohttp at all:
tests/integration/ops/test_startup_imports.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _python(code: str, tmp_path: Path) -> str:
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_aiohttp_contexts_load_the_system_cas_at_their_first_tls_wrap(tmp_path: Path) -> None:
    """aiohttp's import-time contexts hold no CA until they first wrap a connection; then
    they hold the same CAs a default context loads, and verify as before."""
    code = """
import json, ssl
import syncd.sync.client
from aiohttp import connector
verified = connector._SSL_CONTEXT_VERIFIED
before = verified.cert_store_stats()["x509_ca"]
verified.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.org")
after = verified.cert_store_stats()["x509_ca"]
default = ssl.create_default_context().cert_store_stats()["x509_ca"]
print(json.dumps([before, after, default, verified.verify_mode == ssl.CERT_REQUIRED]))
"""
    before, after, default, verifies = json.loads(_python(code, tmp_path))
    assert (before, after, verifies) == (0, default, True)
