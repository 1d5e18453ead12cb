"""Keep freed host memory mapped, so XLA:CPU's step temporaries stop page-faulting every step.

XLA:CPU allocates an executable's temporaries with malloc at every execution
and frees them after it: 3.1 GB for the teacher's train step at batch 256.
glibc hands blocks that large back to the kernel (munmap, or trimming the top
of the heap), so the next step faults them in again, 4 KiB at a time: 800,000
minor page faults per teacher step, ~15 % of its time on a 2-core VM
(benchmarks/NOTES.md, finding 3). Three mallopt(3) settings keep them, and
each is needed (measured): one arena (the heaps of a thread's own arena are
at most 64 MB, so larger blocks there are mmap'd whatever the limits), no
mmap for large blocks, no trimming. The cost is resident memory: the heap
grows to a few temporaries' worth before it settles (the teacher at batch
256: 7.3 -> 6.2 s per step, 6.9 -> 9.7 GiB resident). Setting any malloc
tunable in GLIBC_TUNABLES opts out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

_retained = False


def on_glibc() -> bool:
  """Whether this process's C library is glibc on Linux (where the settings here exist)."""
  return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _user_malloc_tunables() -> str | None:
  """GLIBC_TUNABLES where it sets a malloc tunable (the user's choice), else None."""
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  return tunables if "glibc.malloc." in tunables else None


def retain_freed_memory() -> bool:
  """Sets glibc's malloc to keep freed memory mapped (see the module docstring); whether it did.

  Call it first thing in a process, before JAX starts a backend: threads that
  have already allocated keep their own arena. Does nothing where the C
  library is not glibc, or where GLIBC_TUNABLES already sets a malloc tunable
  (the user's choice stands).
  """
  global _retained
  if _retained:
    return True
  if not on_glibc() or _user_malloc_tunables() is not None:
    return False
  libc = ctypes.CDLL(ctypes.util.find_library("c"))
  # -1 disables trimming (mallopt(3)); mallopt returns 1 on success.
  _retained = all(libc.mallopt(option, value) == 1
                  for option, value in ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
  return _retained


def malloc_setting() -> str:
  """How this process's malloc treats freed memory, for benchmark labels."""
  if _retained:
    return "retain freed (mallopt: 1 arena, no mmap, no trim)"
  tunables = _user_malloc_tunables()
  return f"GLIBC_TUNABLES={tunables}" if tunables is not None else "default"
