"""Find: one user's folders and files by participant name, phone, file name, original name and
caption, ranked (FTS5 bm25 over `search_docs`, kept by triggers: server/db.py v5)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from syncd.errors import BadRequest
from syncd.protocol import SearchHit, SearchPage
from syncd.server.records import file_model, folder_model
from syncd.server.state import ServerState

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_LIMIT = 100
MAX_OFFSET = 10_000
# A query of at least this many digits also matches phones containing them anywhere
# ("555 0123" finds +1 202 555 0123); FTS only matches a phone from its start.
MIN_PHONE_DIGITS = 4
# bm25 column weights, in the FTS column order: name, original_name, caption, folder, phone.
# A file's own name counts most, the folder (participant) name of a file least, so "alice"
# ranks Alice's folder (her name is its `name`) above each of her files.
_RANKED = (
    "SELECT d.obj_id, d.type, bm25(search, 10.0, 6.0, 4.0, 2.0, 4.0) AS rank"
    " FROM search JOIN search_docs d ON d.id = search.rowid"
    " WHERE search MATCH ? AND d.user_id = ? ORDER BY rank LIMIT ?"
)
_PHONE_RANK = -1000.0  # a phone substring match ranks above any word match
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Query:
    match: str  # an FTS5 expression: every term as a quoted prefix, all required
    digits: str | None  # the digits of a phone-like query


def parse_query(text: str) -> Query | None:
    """The user's words as an FTS5 expression, None when there is no word (`***` finds
    nothing). Every term is quoted (so `AND`, `*`, `"` or `NEAR(` in a query are plain words,
    never FTS syntax) and matched as a prefix."""
    if not text or len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"a search is 1 to {MAX_QUERY_CHARS} characters", chars=len(text))
    terms = _WORD.findall(text)[:MAX_TERMS]
    if not terms:
        return None
    match = " ".join(f'"{term}"*' for term in terms)
    digits = "".join(ch for ch in text if ch.isdigit())
    phone_like = len(digits) >= MIN_PHONE_DIGITS and not re.search(r"[^\d\s+().-]", text)
    return Query(match=match, digits=digits if phone_like else None)


def _ranked_ids(
    conn: sqlite3.Connection, user_id: str, query: Query, limit: int
) -> list[tuple[str, str, float]]:
    rows = conn.execute(_RANKED, (query.match, user_id, limit)).fetchall()
    hits = [(r[0], r[1], float(r[2])) for r in rows]
    if query.digits is not None:
        phones = conn.execute(
            "SELECT obj_id, type FROM search_docs WHERE user_id = ? AND phone LIKE ?"
            " ORDER BY type DESC, id LIMIT ?",
            (user_id, f"%{query.digits}%", limit),
        ).fetchall()
        seen = {h[0] for h in hits}
        hits += [(r[0], r[1], _PHONE_RANK) for r in phones if r[0] not in seen]
    hits.sort(key=lambda hit: (hit[2], hit[1] != "folder"))
    return hits


def search(state: ServerState, user_id: str, text: str, limit: int, offset: int) -> SearchPage:
    """One page of `limit` hits from `offset`, best first; `next_offset` is None on the last."""
    query = parse_query(text)
    if query is None:
        return SearchPage(query=text, hits=[], next_offset=None)
    hits = _ranked_ids(state.db.conn, user_id, query, offset + limit + 1)
    page = hits[offset : offset + limit]
    return SearchPage(
        query=text,
        hits=[hit for hit in (_hit(state, *row) for row in page) if hit is not None],
        next_offset=offset + limit if len(hits) > offset + limit else None,
    )


def _hit(state: ServerState, obj_id: str, kind: str, rank: float) -> SearchHit | None:
    """The hit's current rows (None if gone: never, as nothing awaits between the search
    and this read on the server's one connection)."""
    file = state.db.one("SELECT * FROM files WHERE id=?", obj_id) if kind == "file" else None
    folder_id = file["folder_id"] if file is not None else obj_id
    folder = state.db.one("SELECT * FROM folders WHERE id=?", folder_id)
    if folder is None or (kind == "file" and file is None):
        return None
    return SearchHit(
        type="file" if file is not None else "folder",
        rank=rank,
        folder=folder_model(folder),
        file=file_model(file) if file is not None else None,
    )
