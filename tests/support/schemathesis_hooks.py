"""Schemathesis hooks for the fuzz test (loaded with `hooks = "tests.support.schemathesis_hooks"`
in its config): what the OpenAPI document states in words but a JSON schema cannot express.

- `syncd-name`: names are at most 255 UTF-8 *bytes* after NFC (a schema counts characters).
- A well-formed `Repr-Digest` on an upload gets the digest of the body it travels with (a
  schema cannot tie a header to the body; a random digest is rightly refused with 400).
- `wait` of the change feed is capped at 0.2 s, so a long poll on the head cursor cannot
  stall the run for a minute (only the duration changes, never the validity).
- Cases schemathesis labels positive that are not schema-valid are dropped: 4.32's
  coverage phase sometimes fills an optional header that has a `pattern` with the integer
  0 (`If-Match: 0`), or falls back to a negative header, yet files the case as positive.
  Only mislabelled cases go; every schema-valid case is sent and checked.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.transport.serialization import serialize_binary

MAX_NAME_BYTES = 255
_DIGEST = re.compile(r"^sha-(256|512)=:[A-Za-z0-9+/=]+:$")
_CHARS = st.characters(
    exclude_categories=("Cs",), exclude_characters="/\x7f" + "".join(map(chr, range(32)))
)


def _fits(name: str) -> bool:
    nfc = unicodedata.normalize("NFC", name)
    return nfc not in (".", "..") and len(nfc.encode()) <= MAX_NAME_BYTES and "/" not in nfc


schemathesis.openapi.format(
    "syncd-name", st.text(_CHARS, min_size=1, max_size=MAX_NAME_BYTES).filter(_fits)
)


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    if any(part.mode.is_negative for part in meta.components.values()):
        return False
    for parameter in case.operation.iter_parameters():
        definition = parameter.definition
        pattern = definition.get("schema", {}).get("pattern")
        if definition.get("in") != "header" or pattern is None:
            continue
        value = (case.headers or {}).get(definition["name"])
        if value is not None and not re.search(pattern, str(value)):
            return False
    return True


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if case.method == "PUT" and case.headers and case.media_type == "application/octet-stream":
        value = case.headers.get("Repr-Digest")
        if isinstance(value, str) and (match := _DIGEST.match(value)):
            sent = serialize_binary(case.body)  # the bytes schemathesis puts on the wire
            digest = hashlib.new("sha" + match.group(1), sent).digest()
            case.headers["Repr-Digest"] = (
                f"sha-{match.group(1)}=:{base64.b64encode(digest).decode()}:"
            )
    if case.path == "/v1/changes" and case.query:
        wait = case.query.get("wait")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and 0 <= wait <= 60:
            case.query["wait"] = min(wait, 0.2)
    return case
