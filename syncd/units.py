"""How sizes and counts read to a person, in one place: IEC units (KiB, MiB, GiB, the same
units `--quota 5GiB` takes) and correctly pluralised counts ("1 file", "2 files")."""

from __future__ import annotations

IEC_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


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
