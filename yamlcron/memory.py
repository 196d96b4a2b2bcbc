"""Large blocks go back to the system when freed, in a process that is yamlcron's own.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), and from
then on blocks of that size come from the heap of the allocating thread's arena, where
they stay with the process once freed. A ``call:`` job on the thread executor that builds
or returns a 20 MB value would leave 20 MB behind in each worker thread's arena: a daemon
with 32 workers grows by hundreds of MB and keeps them. Setting the threshold turns that
adjustment off, so a large block is mapped, and unmapped when freed (bench/soak.py shows
the difference). Elsewhere (musl, macOS) there is nothing to do.
"""

from __future__ import annotations

import ctypes

#: ``mallopt``'s parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
#: Blocks from this size up are mapped on their own: far above what the scheduler itself
#: allocates, so its own small objects stay in the heap.
THRESHOLD = 1 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at ``THRESHOLD``; False where the C library has no such knob."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt in this C library
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD))
