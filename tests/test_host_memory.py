"""host_memory.retain_freed_memory: XLA:CPU's temporaries stop page-faulting at every execution.

Each case runs in a fresh interpreter: the setting is process-wide and must
come before JAX starts its backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jclip_eeg import host_memory

pytestmark = pytest.mark.skipif(not host_memory.on_glibc(), reason="a glibc malloc setting")

# A jitted function with 128 MB of temporaries (sin(x), cos(x), kept apart from the matmuls by an optimisation
# barrier: jax 0.12's CPU compiler would fuse them away); minor page faults of each of 40 calls.
_PROBE = """
import json, resource, sys
from jclip_eeg import host_memory
applied = host_memory.retain_freed_memory() if sys.argv[1] == "retain" else False
import jax, jax.numpy as jnp

@jax.jit
def f(x, w):
  a, b = jax.lax.optimization_barrier((jnp.sin(x), jnp.cos(x)))
  return (a @ w).sum() + (b @ w).sum()

x, w = jnp.ones((4096, 4096)), jnp.ones((4096, 8))
temp = f.lower(x, w).compile().memory_analysis().temp_size_in_bytes
f(x, w).block_until_ready()
faults = []
for _ in range(40):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x, w).block_until_ready()
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(dict(applied=applied, setting=host_memory.malloc_setting(), temp=temp, faults=faults)))
"""


def _probe(mode: str, **env: str) -> dict:
  environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | env | {"JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, "-c", _PROBE, mode], env=environ, capture_output=True, text=True,
                       check=True, timeout=300)
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_retained_memory_removes_most_page_faults_of_xla_temporaries():
  default, retained = _probe("default"), _probe("retain")
  temp_pages = default["temp"] / os.sysconf("SC_PAGE_SIZE")
  assert default["temp"] >= 100 * 2**20
  assert (default["applied"], default["setting"]) == (False, "default")
  assert retained["applied"] is True and retained["setting"].startswith("retain freed"), retained
  # With the default malloc every call faults its temporaries in afresh.
  assert min(default["faults"]) >= temp_pages / 2, default
  # Kept mapped, calls reuse them. While the heap grows to its steady size (a free of the last call's
  # temporaries can come after the next call's allocation, more so on a loaded machine) a call faults in
  # fresh pages: ~1 call in 5 over the first 40 under load, none after (measured: benchmarks/NOTES.md, change 3).
  assert sum(retained["faults"]) < sum(default["faults"]) / 2, retained


def test_a_malloc_tunable_set_by_the_user_stands():
  result = _probe("retain", GLIBC_TUNABLES="glibc.malloc.hugetlb=1")
  assert result["applied"] is False
  assert result["setting"] == "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
