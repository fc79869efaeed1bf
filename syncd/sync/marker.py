"""Missing-root guard (DESIGN §5.1): the `.syncd-root` marker ties a folder to one library, so
an unmounted disk or a renamed folder stops syncing instead of reading as "all deleted"."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncd.durable import fsync_dir
from syncd.errors import ConfigError, RootMissingError
from syncd.sync.ignore import MARKER_NAME, TEMP_PREFIX


@dataclass(frozen=True)
class Marker:
    library_id: str
    user: str
    created_at: str  # ISO 8601, UTC


def marker_path(root: Path) -> Path:
    return root / MARKER_NAME


def read_marker(root: Path) -> Marker | None:
    """The marker, None if there is none; RootMissingError if it exists but is unreadable."""
    path = marker_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RootMissingError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
        return Marker(str(data["library_id"]), str(data["user"]), str(data["created_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise RootMissingError(
            f"{path} is damaged ({exc.__class__.__name__}); syncing stopped. Remove it only "
            "if this folder really is the sync root of this library."
        ) from exc


def write_marker(root: Path, library_id: str, user: str) -> Marker:
    """Write the marker atomically (temp file, fsync, rename, fsync the directory)."""
    marker = Marker(library_id, user, datetime.now(UTC).isoformat(timespec="seconds"))
    body = json.dumps(marker.__dict__, indent=2).encode() + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}marker-", dir=root)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, marker_path(root))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(root)
    return marker


def check_root(root: Path, library_id: str, first_sync: bool) -> None:
    """Raise RootMissingError unless syncing into `root` is safe.

    On the first sync (empty base) a missing marker is fine: the caller writes it. The root
    itself must exist even then: the caller creates it on purpose, never by accident."""
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise RootMissingError(
            f"sync root {root} {what} (unmounted disk or renamed folder?); syncing stopped, "
            "nothing is deleted on the server"
        )
    marker = read_marker(root)
    if marker is None:
        if first_sync:
            return
        raise RootMissingError(
            f"sync root {root} has no {MARKER_NAME} marker (was it replaced or emptied?); "
            "syncing stopped, nothing is deleted on the server"
        )
    if marker.library_id != library_id:
        raise RootMissingError(
            f"sync root {root} belongs to library {marker.library_id} (user {marker.user}), "
            f"not to this one ({library_id}); refusing to sync into it"
        )


def check_state_outside_root(state_path: Path, root: Path) -> None:
    """The state DB must not live inside the root (it would be synced, and lost with it)."""
    state, top = state_path.expanduser().resolve(), root.expanduser().resolve()
    if state == top or top in state.parents:
        raise ConfigError(
            f"sync.state_dir puts the state database ({state_path}) inside the sync root "
            f"({root}); choose a directory outside it"
        )
