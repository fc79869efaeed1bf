"""How sizes, counts and durations read to a person, in one place: IEC units (KiB, MiB, GiB,
the same units `--quota 5GiB` takes), correctly pluralised counts ("1 file", "2 files") and
the durations commands take (`--expires 7d`)."""

from __future__ import annotations

import re

IEC_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def human_bytes(n_bytes: int | None) -> str:
    """`512 B`, `43.1 KiB`, `200.0 MiB`, `5.0 GiB`; None (not known yet) is `?`."""
    if n_bytes is None:
        return "?"
    value = float(n_bytes)
    for unit in IEC_UNITS:
        if abs(value) < 1024 or unit == IEC_UNITS[-1]:
            return f"{n_bytes} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 file`, `0 files`, `3 deletes`; irregular forms via `plural_form`."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def parse_duration_s(text: str) -> int:
    """`7d`, `12h`, `30m`, `90s`, `2w` or plain seconds; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r}: use a number with s, m, h, d or w (e.g. 7d)")
    return int(match.group(1)) * _UNIT_S[match.group(2)]
