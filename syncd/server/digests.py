"""`Repr-Digest` of an upload (RFC 9530): the field parsed as an RFC 8941 dictionary, the
digests the server can check picked from it, and their verification as the body streams."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from syncd.errors import BadRequest, DigestMismatch

# The active algorithms of the IANA registry; the deprecated ones (md5, sha, crc32c...)
# and unknown keys are ignored, as RFC 9530 allows.
ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class FieldError(ValueError):
    """Not an RFC 8941 dictionary."""


def parse_dictionary(text: str) -> dict[str, Any]:
    """RFC 8941 §4.2.2. Values: bytes, int, float, str, bool, a token as `Token`, or a list
    (inner list); parameters are parsed and dropped. A repeated key: the last one wins."""
    parser = _Parser(text.strip(" "))
    out: dict[str, Any] = {}
    while not parser.done():
        key = parser.key()
        if parser.peek() == "=":
            parser.pos += 1
            out[key] = parser.inner_list() if parser.peek() == "(" else parser.bare_item()
        else:
            out[key] = True
        parser.parameters()
        parser.ows()
        if parser.done():
            break
        parser.expect(",")
        parser.ows()
        if parser.done():
            raise FieldError("trailing comma")
    return out


@dataclass(frozen=True)
class Token:
    value: str


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise FieldError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def ows(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        found = pattern.match(self.text, self.pos)
        if found is None:
            raise FieldError(f"unexpected {self.peek()!r} at {self.pos}")
        self.pos = found.end()
        return found

    def key(self) -> str:
        return self.match(_KEY).group(0)

    def parameters(self) -> None:
        while self.peek() == ";":
            self.pos += 1
            self.ows()
            self.key()
            if self.peek() == "=":
                self.pos += 1
                self.bare_item()

    def inner_list(self) -> list[Any]:
        self.expect("(")
        items: list[Any] = []
        while True:
            while self.peek() == " ":
                self.pos += 1
            if self.peek() == ")":
                self.pos += 1
                self.parameters()
                return items
            items.append(self.bare_item())
            self.parameters()
            if self.peek() not in (" ", ")"):
                raise FieldError(f"bad inner list at {self.pos}")

    def bare_item(self) -> Any:
        char = self.peek()
        if char == ":":
            encoded = self.match(_BYTES).group(1)
            try:  # RFC 8941: a parser should accept missing `=` padding
                return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except binascii.Error as exc:
                raise FieldError("byte sequence is not base64") from exc
        if char == '"':
            return self.string()
        if char == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise FieldError("bad boolean")
            self.pos += 2
            return value == "1"
        if char == "-" or char.isdigit():
            number = self.match(_NUMBER)
            return float(number.group(0)) if number.group(1) else int(number.group(0))
        return Token(self.match(_TOKEN).group(0))

    def string(self) -> str:
        self.expect('"')
        out: list[str] = []
        while not self.done():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise FieldError("bad escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise FieldError("non-ASCII in string")
            else:
                out.append(char)
        raise FieldError("unterminated string")


@dataclass
class Expected:
    """The digests an upload must match: algorithm name -> raw digest."""

    digests: dict[str, bytes]
    _hashers: dict[str, Any] = field(default_factory=dict)

    async def check_stream(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass `chunks` through, hashing with every algorithm other than sha-256 (the blob
        store computes that one); the result is compared by `verify`."""
        self._hashers = {
            alg: hashlib.new(ALGORITHMS[alg]) for alg in self.digests if alg != "sha-256"
        }
        async for chunk in chunks:
            for hasher in self._hashers.values():
                hasher.update(chunk)
            yield chunk

    def verify(self, sha256: bytes) -> None:
        actual = {"sha-256": sha256, **{a: h.digest() for a, h in self._hashers.items()}}
        for alg, expected in self.digests.items():
            if actual[alg] != expected:
                raise DigestMismatch(
                    "the content does not match Repr-Digest; nothing was stored",
                    algorithm=alg,
                    expected=base64.b64encode(expected).decode(),
                    actual=base64.b64encode(actual[alg]).decode(),
                )


def expected_digests(header: str | None) -> Expected | None:
    """None without the field (the server's own sha-256 is then the only record, returned
    in the answer's Repr-Digest). A field we cannot use is refused with 400 rather than
    ignored: the client asked for a check, and storing unchecked bytes would drop it."""
    if header is None:
        return None
    try:
        members = parse_dictionary(header)
    except FieldError as exc:
        raise _unusable(f"Repr-Digest is not an RFC 8941 dictionary ({exc})") from exc
    usable: dict[str, bytes] = {}
    for alg, value in members.items():
        if alg not in ALGORITHMS:
            continue
        size = hashlib.new(ALGORITHMS[alg]).digest_size
        if not isinstance(value, bytes) or len(value) != size:
            raise _unusable(f"Repr-Digest {alg} must be a byte sequence of {size} bytes")
        usable[alg] = value
    if not usable:
        raise _unusable("Repr-Digest holds no sha-256 or sha-512 digest")
    return Expected(usable)


def _unusable(message: str) -> BadRequest:
    return BadRequest(message, header="Repr-Digest", supported=sorted(ALGORITHMS))


def repr_digest_header(sha256: bytes) -> str:
    return f"sha-256=:{base64.b64encode(sha256).decode()}:"
