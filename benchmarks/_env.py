"""The label every benchmark result carries: machine, library versions, date."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from types import ModuleType

from jclip_eeg import host_memory


def cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


# Environment variables that change the measured speed; recorded when set.
PERFORMANCE_VARIABLES = ("XLA_FLAGS", "GLIBC_TUNABLES", "OMP_NUM_THREADS", "XLA_PYTHON_CLIENT_PREALLOCATE")


def environment(*modules: ModuleType, **extra: object) -> dict[str, object]:
  """Device, versions of `modules` (by their `__version__`), performance variables, the malloc setting
  (`host_memory`), load average, UTC date."""
  env: dict[str, object] = dict(
      cpu=cpu_model(), cpu_count=os.cpu_count(), python=platform.python_version(),
      platform=platform.platform(),
      variables={name: os.environ[name] for name in PERFORMANCE_VARIABLES if name in os.environ},
      malloc=host_memory.malloc_setting())
  env.update({m.__name__: getattr(m, "__version__", "?") for m in modules})
  env.update(extra)
  env["load_average_1min_at_end"] = os.getloadavg()[0]
  env["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  return env
