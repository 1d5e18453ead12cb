"""FLOPs from XLA's own count, and the device peaks that turn achieved FLOP/s into MFU.

MFU = (XLA FLOPs of one compiled step / measured step time) / peak FLOP/s.
The FLOPs are `compiled.cost_analysis()["flops"]` of the very executable
that runs (maxtext reports MFU the same way); the peaks are the vendors'
dense bf16 tensor-core numbers, so MFU is only meaningful for bf16 compute
(`config.model.compute_dtype="bfloat16"`). Unknown devices (CPU) get none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

# Dense bf16 peaks in TFLOP/s, by a substring of `jax.Device.device_kind` (SXM parts).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def compiled_flops(compiled: Any) -> float:
  """FLOPs of one call of a compiled executable (`jit(f).lower(...).compile()`), from XLA's cost analysis."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # older jax returns one dict per device program
    cost = cost[0]
  return float(cost["flops"])


def xla_flops(fn: Callable[..., Any], *args: Any) -> float:
  """FLOPs of jit(fn)(*args) from XLA's cost analysis of the compiled program."""
  return compiled_flops(jax.jit(fn).lower(*args).compile())


def peak_tflops(override: float | None = None) -> float | None:
  """`override`, or the dense bf16 peak of the first device (None: unknown, e.g. CPU)."""
  if override:
    return override
  kind = jax.devices()[0].device_kind
  return next((v for k, v in PEAK_TFLOPS.items() if k in kind), None)
