"""Freed memory kept for the next bucket during a run.

A run allocates and frees the same few dozen arrays of several MiB for every bucket
(Arrow's reads, the kernel's NumPy columns, the results). glibc hands each block of 128
KiB or more to the kernel on its own (``mmap``) and gives it back when freed, and Arrow's
own allocator (mimalloc) gives freed pages back too, so the next bucket faults every page
in again, zero-filled: on the 13 M-resident lake an eighth of a run's CPU was system time
spent so. While :func:`kept_for_reuse` holds, Arrow allocates with glibc too, blocks up
to 32 MiB (glibc's most) come from the heap and freed memory stays there, up to 1 GiB;
afterwards Arrow's allocator and glibc's starting thresholds are back (fixed from then
on, no longer adjusted by glibc) and the heap is trimmed. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

__all__ = ["kept_for_reuse"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_DEFAULT = 128 * 1024
_LARGEST = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc
_KEPT = 1024 * 1024 * 1024

_lock = threading.Lock()
_holders = 0
_pool: pa.MemoryPool | None = None


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (whose ``mallopt`` this knows)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL(None)  # the symbols the process already has
    except (OSError, ValueError, AttributeError):  # not glibc, or no confstr here
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextmanager
def kept_for_reuse() -> Iterator[None]:
    """Keep freed blocks in the heap while the block runs (nested and threaded uses
    share one setting; the last to leave restores glibc's defaults)."""
    global _holders, _pool
    libc = _libc()
    if libc is None:
        yield
        return
    with _lock:
        if _holders == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, _LARGEST)
            libc.mallopt(_M_TRIM_THRESHOLD, _KEPT)
            _pool = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                if _pool is not None:
                    pa.set_memory_pool(_pool)
                libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT)
                libc.malloc_trim(0)
