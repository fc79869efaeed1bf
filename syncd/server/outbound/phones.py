"""Phone numbers as people type them -> E.164 (`+<country><number>`, 8 to 15 digits)."""

from __future__ import annotations

import re

from syncd.errors import BadRequest

_SEPARATORS = re.compile(r"[\s().\-/]")
# What the OpenAPI document calls a valid `to` (ECMA regex): every match is accepted by e164().
PHONE_PATTERN = r"^(\+|00)[1-9]([ ().\-/]*[0-9]){7,14}[ ().\-/]*$"


def e164(text: str) -> str:
    """`+1 (202) 555-0123` and `001 202 555 0123` -> `+12025550123`; anything else without
    a country code, with letters or of the wrong length is a clear 400."""
    compact = _SEPARATORS.sub("", text.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else ""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise BadRequest(
            "not a phone number in international form: +<country code><number>", to=text
        )
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise BadRequest("a phone number has 8 to 15 digits after + (E.164)", to=text)
    return "+" + digits
