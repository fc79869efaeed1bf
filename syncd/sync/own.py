"""Our own writes the server made without us hearing back (killed mid-answer, answer lost):
an upload is noted before it is sent; when the mirror shows the server holds exactly that
version at that path, it becomes the base, so a later local edit goes up over it."""

from __future__ import annotations

from syncd.log import get_logger
from syncd.sync.landing import base_entry
from syncd.sync.model import RelPath
from syncd.sync.remote import RemoteMirror
from syncd.sync.statedb import StateDB

log = get_logger(__name__)


def adopt_own_uploads(db: StateDB, mirror: RemoteMirror) -> list[RelPath]:
    """Make each noted upload the server holds (same path, same digest, a rev our base has
    not recorded) the base of its path, as if its answer had arrived; the paths adopted.
    Without it the server's copy reads as another device's change: a local edit made since
    would be planned as a conflict (a conflicted copy of the user's own file)."""
    adopted: list[RelPath] = []
    for sent in db.uploads_sent():
        remote = mirror.file_at(sent.path)
        if remote is None or remote.sha256 != sent.sha256:
            continue  # not (yet) on the server, or another version since: plan as usual
        base = db.base_file(sent.path)
        if base is not None and base.rev == remote.rev:
            continue
        db.put_file(base_entry(remote, sent.mtime_ns, sent.inode))  # drops the note
        adopted.append(sent.path)
        log.info("own_upload_adopted", path=str(sent.path), rev=remote.rev)
    return adopted
