"""Find: one user's folders and files by participant name, phone, file name, original name and
caption, ranked by the backend's index over `search_docs` (kept by triggers, schema v5): FTS5
bm25 on SQLite, a weighted tsvector on PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

from syncd.errors import BadRequest
from syncd.protocol import SearchHit, SearchPage
from syncd.server.meta import Db
from syncd.server.records import file_model, folder_model
from syncd.server.state import ServerState

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_LIMIT = 100
MAX_OFFSET = 10_000
# A query of at least this many digits also matches phones containing them anywhere
# ("555 0123" finds +1 202 555 0123); FTS only matches a phone from its start.
MIN_PHONE_DIGITS = 4
_PHONE_RANK = -1000.0  # a phone substring match ranks above any word match
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Query:
    words: list[str]  # every one must start a word of the document (a prefix), all required
    digits: str | None  # the digits of a phone-like query


def parse_query(text: str) -> Query | None:
    """The user's words, None when there is no word (`***` finds nothing). The backend
    matches each as a plain prefix, never as query syntax (`AND`, `*`, `NEAR(`)."""
    if not text or len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"a search is 1 to {MAX_QUERY_CHARS} characters", chars=len(text))
    terms = _WORD.findall(text)[:MAX_TERMS]
    if not terms:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    phone_like = len(digits) >= MIN_PHONE_DIGITS and not re.search(r"[^\d\s+().-]", text)
    return Query(words=terms, digits=digits if phone_like else None)


def _ranked_ids(db: Db, user_id: str, query: Query, limit: int) -> list[tuple[str, str, float]]:
    rows = db.ranked_search(user_id, query.words, limit)
    hits = [(r[0], r[1], float(r[2])) for r in rows]
    if query.digits is not None:
        phones = db.all(
            "SELECT obj_id, type FROM search_docs WHERE user_id = ? AND phone LIKE ?"
            " ORDER BY type DESC, id LIMIT ?",
            user_id,
            f"%{query.digits}%",
            limit,
        )
        seen = {h[0] for h in hits}
        hits += [(r[0], r[1], _PHONE_RANK) for r in phones if r[0] not in seen]
    hits.sort(key=lambda hit: (hit[2], hit[1] != "folder"))
    return hits


def search(state: ServerState, user_id: str, text: str, limit: int, offset: int) -> SearchPage:
    """One page of `limit` hits from `offset`, best first; `next_offset` is None on the last."""
    query = parse_query(text)
    if query is None:
        return SearchPage(query=text, hits=[], next_offset=None)
    hits = _ranked_ids(state.db, user_id, query, offset + limit + 1)
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
