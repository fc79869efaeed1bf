"""Participant folders for ingest: found or created per sender; a lid folder is re-keyed to
the phone once the phone is known; a new display name renames a folder that still carries
its automatic name (rev bump + feed entry, so daemons rename the local folder)."""

from __future__ import annotations

from syncd.errors import ConstraintViolation, InvalidName
from syncd.log import get_logger
from syncd.protocol import name_key, normalize_name
from syncd.server import feed
from syncd.server.folders import ensure_participant_folder
from syncd.server.ingest.model import Sender
from syncd.server.ingest.naming import clean_display_name, is_auto_name
from syncd.server.meta import Row
from syncd.server.state import ServerState

log = get_logger(__name__)


def folder_for(state: ServerState, user_id: str, sender: Sender) -> str:
    """The folder id of the sender's participant folder (created on first use)."""
    sender = sender.model_copy(update={"display_name": clean_display_name(sender.display_name)})
    if sender.lid and sender.phone:
        _rekey_lid(state, user_id, sender.lid, sender.phone)
    row = state.db.one(
        "SELECT * FROM folders WHERE user_id=? AND participant_id=?", user_id, sender.participant_id
    )
    if row is None:
        folder = ensure_participant_folder(
            state, user_id, sender.participant_id, sender.phone, sender.display_name
        )
        return folder.id
    if sender.display_name and sender.display_name != row["display_name"]:
        _new_display_name(state, user_id, row, sender.display_name)
    return str(row["id"])


def _rekey_lid(state: ServerState, user_id: str, lid: str, phone: str) -> None:
    """Files that arrived under a hidden id join the phone's folder from now on: the lid
    folder becomes the phone folder, unless the phone already has its own folder."""
    with state.db.tx() as conn:
        lid_row = conn.execute(
            "SELECT id FROM folders WHERE user_id=? AND participant_id=?", (user_id, lid)
        ).fetchone()
        taken = conn.execute(
            "SELECT 1 FROM folders WHERE user_id=? AND participant_id=?", (user_id, phone)
        ).fetchone()
        if lid_row is None or taken is not None:
            return
        seq = feed.next_seq(conn, user_id)
        conn.execute(
            "UPDATE folders SET participant_id=?, phone=?, rev=rev+1, seq=? WHERE id=?",
            (phone, phone, seq, lid_row["id"]),
        )
    state.notifier.notify(user_id)
    log.info("participant_rekeyed", user_id=user_id, folder_id=lid_row["id"])


def _new_display_name(state: ServerState, user_id: str, row: Row, name: str) -> None:
    auto = is_auto_name(row["name"], row["display_name"], row["phone"], row["participant_id"])
    base = name.replace("/", "-").strip()
    phone = row["phone"]
    candidates = [base] + ([f"{base} ({phone})"] if phone and phone != base else [])
    candidates += [f"{base} ({n})" for n in range(2, 100)]
    for candidate in candidates if auto else [row["name"]]:
        try:
            folder_name = normalize_name(candidate[:200])
            with state.db.tx() as conn:
                seq = feed.next_seq(conn, user_id)
                conn.execute(
                    "UPDATE folders SET name=?, name_key=?, display_name=?, rev=rev+1, seq=?"
                    " WHERE id=?",
                    (folder_name, name_key(folder_name), name, seq, row["id"]),
                )
        except (ConstraintViolation, InvalidName):
            continue
        state.notifier.notify(user_id)
        log.info("participant_renamed", user_id=user_id, folder_id=row["id"], renamed=auto)
        return
