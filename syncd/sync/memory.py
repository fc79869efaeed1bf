"""Gives memory back after a full pass: it builds per-file temporaries for the whole library
(scan, plan, indexes); once they are garbage, a collection and glibc's malloc_trim return the
freed pages, so an idle daemon does not keep the high-water mark of its biggest pass."""

from __future__ import annotations

import ctypes
import gc
from typing import Any


def _load_malloc_trim() -> Any:
    try:
        func = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc
        return None
    func.argtypes, func.restype = (ctypes.c_size_t,), ctypes.c_int
    return func


_MALLOC_TRIM = _load_malloc_trim()


def release_memory() -> None:
    """Collect cycles, then hand free heap pages back to the kernel (glibc only)."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
