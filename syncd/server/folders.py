"""Folder operations of one user's library: list, create (custom or participant), rename,
delete with every file in it. Each mutation bumps `rev`, takes a feed seq and wakes waiters."""

from __future__ import annotations

from syncd.errors import ConstraintViolation, NameTaken, NotFound, RevMismatch
from syncd.protocol import Folder, name_key, normalize_name
from syncd.server import feed, trash
from syncd.server.db import new_id, now_ns
from syncd.server.meta import Conn, Row
from syncd.server.records import folder_model, one_folder_model
from syncd.server.state import NO_PRECONDITION, Precondition, ServerState


def list_folders(state: ServerState, user_id: str) -> list[Folder]:
    rows = state.db.all("SELECT * FROM folders WHERE user_id=? ORDER BY name_key", user_id)
    return [folder_model(r) for r in rows]


def folder_row(state: ServerState, user_id: str, folder_id: str) -> Row:
    row = state.db.one("SELECT * FROM folders WHERE id=? AND user_id=?", folder_id, user_id)
    if row is None:
        raise NotFound("no such folder", folder_id=folder_id)
    return row


def get_folder(state: ServerState, user_id: str, folder_id: str) -> Folder:
    return one_folder_model(state.db, folder_row(state, user_id, folder_id))


def check_rev(rev: int | None, pre: Precondition, what: str) -> None:
    """412 when the object's current rev (None = missing) does not satisfy `pre`."""
    if pre.if_none_match_any and rev is not None:
        raise RevMismatch(f"{what} already exists (If-None-Match: *)", current_rev=rev)
    if (pre.if_match_any or pre.if_match is not None) and rev is None:
        raise RevMismatch(f"{what} does not exist (If-Match)", current_rev=None)
    if pre.if_match is not None and rev != pre.if_match:
        raise RevMismatch(
            f"{what} is at rev {rev}, not {pre.if_match}",
            current_rev=rev,
            expected_rev=pre.if_match,
        )


def create_folder(
    state: ServerState,
    user_id: str,
    name: str,
    *,
    participant_id: str | None = None,
    phone: str | None = None,
    display_name: str | None = None,
) -> Folder:
    name = normalize_name(name)
    folder_id = new_id("fo")
    kind = "participant" if participant_id is not None else "custom"
    try:
        with state.db.tx() as conn:
            seq = feed.next_seq(conn, user_id)
            conn.execute(
                "INSERT INTO folders (id, user_id, name, name_key, kind, participant_id, phone,"
                " display_name, rev, seq, created_ns) VALUES (?,?,?,?,?,?,?,?,1,?,?)",
                (
                    folder_id,
                    user_id,
                    name,
                    name_key(name),
                    kind,
                    participant_id,
                    phone,
                    display_name,
                    seq,
                    now_ns(),
                ),
            )
    except ConstraintViolation as exc:
        raise NameTaken(f"a folder named {name!r} already exists", name=name) from exc
    state.notifier.notify(user_id)
    return get_folder(state, user_id, folder_id)


def ensure_participant_folder(
    state: ServerState,
    user_id: str,
    participant_id: str,
    phone: str | None,
    display_name: str | None,
) -> Folder:
    """The participant's folder, created on first use (for ingest). Named after the display
    name, else the phone; on a name collision `name (phone)`, then `name (2)`, ..."""
    row = state.db.one(
        "SELECT * FROM folders WHERE user_id=? AND participant_id=?", user_id, participant_id
    )
    if row is not None:
        return one_folder_model(state.db, row)
    base = (display_name or phone or participant_id).replace("/", "-").strip() or "Unknown"
    candidates = [base] + ([f"{base} ({phone})"] if phone and phone != base else [])
    candidates += [f"{base} ({n})" for n in range(2, 1000)]
    for candidate in candidates:
        try:
            return create_folder(
                state,
                user_id,
                candidate[:200],
                participant_id=participant_id,
                phone=phone,
                display_name=display_name,
            )
        except NameTaken:
            continue
    raise NameTaken("no free folder name for participant", participant_id=participant_id)


def rename_folder(
    state: ServerState, user_id: str, folder_id: str, name: str, pre: Precondition = NO_PRECONDITION
) -> Folder:
    name = normalize_name(name)
    try:
        with state.db.tx() as conn:
            row = folder_row(state, user_id, folder_id)
            check_rev(row["rev"], pre, "folder")
            seq = feed.next_seq(conn, user_id)
            conn.execute(
                "UPDATE folders SET name=?, name_key=?, rev=rev+1, seq=? WHERE id=?",
                (name, name_key(name), seq, folder_id),
            )
    except ConstraintViolation as exc:
        raise NameTaken(f"a folder named {name!r} already exists", name=name) from exc
    state.notifier.notify(user_id)
    return get_folder(state, user_id, folder_id)


async def delete_folder(
    state: ServerState, user_id: str, folder_id: str, pre: Precondition = NO_PRECONDITION
) -> None:
    """Delete the folder and its files (each to the trash, each its own feed entry), then
    the folder's entry. Blobs nothing refers to any more are removed after the commit."""
    with state.db.tx() as conn:
        row = folder_row(state, user_id, folder_id)
        check_rev(row["rev"], pre, "folder")
        files = conn.execute("SELECT * FROM files WHERE folder_id=?", (folder_id,)).fetchall()
        for f in files:
            drop_file_row(conn, user_id, f)
        conn.execute("DELETE FROM folders WHERE id=?", (folder_id,))
        feed.tombstone(conn, user_id, "folder", folder_id)
        purged = trash.enforce_cap(conn, user_id, state.trash_percent)
    state.notifier.notify(user_id)
    for sha in {f["sha256"] for f in files} | set(purged):
        await state.blobs.collect(sha)


def drop_file_row(conn: Conn, user_id: str, f: Row) -> None:
    """The one place a file row disappears: it moves to the user's trash (undo window), its
    bytes stop counting in quota at once, and the feed gets a delete. `f` is a full row.
    The caller then applies the trash cap (`trash.enforce_cap`) in the same transaction."""
    trash.to_trash(conn, user_id, f)
    conn.execute("DELETE FROM files WHERE id=?", (f["id"],))
    conn.execute("UPDATE users SET used_bytes=used_bytes-? WHERE id=?", (f["size"], user_id))
    feed.tombstone(conn, user_id, "file", f["id"])
