"""The one SQL difference call sites do not spell out: their `?` placeholders become psycopg's
`%s` outside quoted strings and identifiers, and every literal `%` becomes `%%`."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """`SELECT * FROM t WHERE a=? AND b LIKE '%x?'` -> `... a=%s AND b LIKE '%%x?'`."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":  # psycopg reads `%` everywhere, quoted or not
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same outcome
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    if quote is not None:
        raise ValueError(f"unterminated quote in SQL: {sql!r}")
    return "".join(out)
