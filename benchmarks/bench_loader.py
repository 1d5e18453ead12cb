"""Throughput of the Grain training loader (`jclip_eeg.data.loader.train_batches`).

Builds a store of random 23x256 float32 windows (or uses --store), then for each
batch size and worker count: starts the iterator, discards warm-up batches
(worker start-up, page faults), and times --repeats runs of about
--windows-per-repeat windows each. Reports windows/s (median, min, max) and the
ceiling set by the batch read alone (`read_rows` on random rows, no Grain).

The store is freshly written, so it sits in the page cache: these numbers are
for a warm cache (the common case when the store fits in RAM), not for disk.

  python benchmarks/bench_loader.py [--store DIR] [--out benchmarks/results/loader.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grain
import numpy as np

import _env
from jclip_eeg.data.loader import read_rows, train_batches
from jclip_eeg.data.store import EpochStore, StoreWriter

_DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "loader.json"


def make_store(out_dir: Path, *, n_windows: int, n_channels: int, n_times: int,
               seizure_fraction: float = 0.1, n_recordings: int = 20,
               chunk: int = 2048, seed: int = 0) -> EpochStore:
  """A store of (n_windows, n_channels, n_times) standard-normal float32 windows."""
  rng = np.random.default_rng(seed)
  writer = StoreWriter(out_dir, n_windows=n_windows, n_channels=n_channels, n_times=n_times)
  recording_index = np.arange(n_windows) * n_recordings // n_windows
  for lo in range(0, n_windows, chunk):
    hi = min(lo + chunk, n_windows)
    x = rng.standard_normal((hi - lo, n_channels, n_times), dtype=np.float32)
    y = (rng.random(hi - lo) < seizure_fraction).astype(np.int32)
    writer.append(x, y, recording_index[lo:hi], np.arange(lo, hi, dtype=np.float64))
  recordings = [dict(id=f"bench_{i:02d}", patient=f"p{i // 4:02d}", source="random")
                for i in range(n_recordings)]
  return writer.commit(class_names=["background", "seizure"],
                       channel_names=[f"ch{i}" for i in range(n_channels)],
                       sfreq=float(n_times), recordings=recordings)


def time_runs(next_batch: Callable[[], int], *, batch_size: int, warmup_batches: int,
              repeats: int, windows_per_repeat: int) -> list[float]:
  """Windows/s of `repeats` timed runs; `next_batch()` returns the windows it delivered."""
  for _ in range(warmup_batches):
    next_batch()
  n_batches = max(10, windows_per_repeat // batch_size)
  rates = []
  for _ in range(repeats):
    start, windows = time.perf_counter(), 0
    for _ in range(n_batches):
      windows += next_batch()
    rates.append(windows / (time.perf_counter() - start))
  return rates


def bench_loader(store: EpochStore, *, batch_size: int, worker_count: int,
                 **timing) -> list[float]:
  it = train_batches(store.path, batch_size=batch_size, seed=0, worker_count=worker_count,
                     process_index=0, process_count=1)
  try:
    return time_runs(lambda: len(next(it)["x"]), batch_size=batch_size, **timing)
  finally:
    it.close()


def bench_read(store: EpochStore, *, batch_size: int, **timing) -> list[float]:
  """The ceiling: only the sorted fancy-index read of random rows."""
  x = store.x.view(np.ndarray)
  scratch = np.empty((batch_size,) + x.shape[1:], x.dtype)
  rng = np.random.default_rng(0)
  return time_runs(lambda: len(read_rows(x, rng.integers(0, len(x), batch_size), scratch)),
                   batch_size=batch_size, **timing)


def summary(rates: list[float]) -> dict[str, float]:
  return dict(median=statistics.median(rates), min=min(rates), max=max(rates))


def environment() -> dict[str, object]:
  return _env.environment(np, grain)


def run(store: EpochStore, args: argparse.Namespace) -> dict[str, object]:
  timing = dict(warmup_batches=args.warmup_batches, repeats=args.repeats,
                windows_per_repeat=args.windows_per_repeat)
  rows = []
  for batch_size in args.batch_sizes:
    ceiling = summary(bench_read(store, batch_size=batch_size, **timing))
    rows.append(dict(batch_size=batch_size, worker_count="read only", **ceiling))
    print_row(rows[-1])
    for worker_count in args.worker_counts:
      rates = bench_loader(store, batch_size=batch_size, worker_count=worker_count, **timing)
      rows.append(dict(batch_size=batch_size, worker_count=worker_count, **summary(rates)))
      print_row(rows[-1])
  n, c, t = store.x.shape
  return dict(benchmark="loader", environment=environment(), timing=timing,
              store=dict(windows=n, channels=c, samples=t, dtype=str(store.x.dtype),
                         cache="warm (freshly written)"),
              target_windows_per_s=20_000, results=rows)


def print_row(row: dict[str, object]) -> None:
  print(f"{row['batch_size']:>6} {row['worker_count']!s:>10} {row['median']:>12,.0f} "
        f"{row['min']:>12,.0f} {row['max']:>12,.0f}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--store", type=Path, help="existing store (default: a temporary one)")
  parser.add_argument("--windows", type=int, default=24_000)
  parser.add_argument("--channels", type=int, default=23)
  parser.add_argument("--samples", type=int, default=256)
  parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
  parser.add_argument("--worker-counts", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--warmup-batches", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--windows-per-repeat", type=int, default=20_000)
  parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
  return parser.parse_args(argv)


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  print(f"{'batch':>6} {'workers':>10} {'windows/s':>12} {'min':>12} {'max':>12}")
  with tempfile.TemporaryDirectory() as tmp:
    store = EpochStore(args.store) if args.store else make_store(
        Path(tmp) / "store", n_windows=args.windows, n_channels=args.channels,
        n_times=args.samples)
    result = run(store, args)
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(result, indent=1) + "\n")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main(sys.argv[1:])
