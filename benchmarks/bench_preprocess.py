"""Preprocessing throughput: ours (EDF -> windows) vs the MNE-based equivalent, one core.

Writes synthetic CHB-MIT-layout recordings (default 8 x 10 min, 23 channels) at
256 Hz and at 512 Hz (so resampling is exercised), then times, on the same
files in the same run, one process on one core:

  ours: `Recording.load()` (our EDF reader) -> `preprocess` (frequency-domain
        zero-phase band-pass + resampling, z-score) -> `plan_windows` + `cut_windows`
  mne:  `mne.io.read_raw_edf(preload=True)` -> `raw.filter(0.1, 70)` (MNE's
        default zero-phase FIR) -> `raw.resample(256)` when needed -> per-channel
        z-score -> the same `plan_windows` + `cut_windows`

Each pipeline gets one warm-up pass over all files, then --repeats rounds of
one timed pass per pipeline, interleaved (files in the page cache). Reported:
median / min / max wall seconds per pass, median CPU seconds (steadier than
wall time on a shared machine), hours of EEG per wall second per core and per
CPU second, the per-stage split of the median pass and the speed-up. The two pipelines' windows are also compared (their filters
differ: FIR vs Butterworth), as a check that the MNE side does the same job.

  python benchmarks/bench_preprocess.py [--repeats 5] [--out benchmarks/results/preprocess.json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import mne  # noqa: E402
import numpy as np  # noqa: E402
import pyedflib  # noqa: E402
import scipy  # noqa: E402
import _env  # noqa: E402

import jclip_eeg  # noqa: E402
from jclip_eeg.data import datasets, synthetic  # noqa: E402
from jclip_eeg.data.preprocess import PreprocessSettings, preprocess  # noqa: E402
from jclip_eeg.data.types import DatasetSpec, Recording  # noqa: E402
from jclip_eeg.data.windows import cut_windows, plan_windows  # noqa: E402

_DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "preprocess.json"
Stages = dict[str, float]
Pipeline = Callable[[Recording, DatasetSpec, Stages], np.ndarray]


def _windows(data: np.ndarray, recording: Recording, spec: DatasetSpec) -> np.ndarray:
  plan = plan_windows(data.shape[1], spec.sfreq, recording.events, spec.class_names,
                      seizure_overlap=spec.seizure_overlap)
  return cut_windows(data, plan)


def ours(recording: Recording, spec: DatasetSpec, stages: Stages) -> np.ndarray:
  """(N, C, W) windows of one recording with our pipeline; adds stage seconds to `stages`."""
  t0 = time.perf_counter()
  signals = recording.load()
  t1 = time.perf_counter()
  pre = preprocess(signals, PreprocessSettings.for_spec(spec), source=recording.source)
  t2 = time.perf_counter()
  x = _windows(pre.data, recording, spec)
  t3 = time.perf_counter()
  _add(stages, read=t1 - t0, preprocess=t2 - t1, windows=t3 - t2)
  return x


def with_mne(recording: Recording, spec: DatasetSpec, stages: Stages) -> np.ndarray:
  """The same windows with MNE's reader, default FIR filter and FFT resampling."""
  t0 = time.perf_counter()
  raw = mne.io.read_raw_edf(recording.source, preload=True, exclude=["-"], verbose="error")
  t1 = time.perf_counter()
  raw.filter(*spec.band_hz, verbose="error")
  if raw.info["sfreq"] != spec.sfreq:
    raw.resample(spec.sfreq, verbose="error")
  t2 = time.perf_counter()
  data = raw.get_data()
  data = (data - data.mean(axis=1, keepdims=True)) / data.std(axis=1, keepdims=True)
  x = _windows(data, recording, spec)
  t3 = time.perf_counter()
  _add(stages, read=t1 - t0, preprocess=t2 - t1, windows=t3 - t2)
  return x


def _add(stages: Stages, **seconds: float) -> None:
  for name, s in seconds.items():
    stages[name] = stages.get(name, 0.0) + s


def timed_pass(pipeline: Pipeline, recordings: Sequence[Recording],
               spec: DatasetSpec) -> dict[str, object]:
  """Wall and CPU seconds of one pass over all recordings, with the per-stage split."""
  stages: Stages = {}
  wall, cpu = time.perf_counter(), time.process_time()
  for recording in recordings:
    pipeline(recording, spec, stages)
  return dict(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu,
              stages=stages)


def time_pipelines(pipelines: dict[str, Pipeline], recordings: Sequence[Recording],
                   spec: DatasetSpec, repeats: int) -> dict[str, dict[str, object]]:
  """A warm-up pass each, then `repeats` rounds of one pass per pipeline, interleaved so
  that both see the same background load on a shared machine."""
  for pipeline in pipelines.values():
    timed_pass(pipeline, recordings, spec)
  passes: dict[str, list[dict[str, object]]] = {name: [] for name in pipelines}
  for _ in range(repeats):
    for name, pipeline in pipelines.items():
      passes[name].append(timed_pass(pipeline, recordings, spec))
  return {name: summarise(p) for name, p in passes.items()}


def summarise(passes: Sequence[dict[str, object]]) -> dict[str, object]:
  seconds = [p["seconds"] for p in passes]
  median = statistics.median(seconds)
  return dict(median_s=median, min_s=min(seconds), max_s=max(seconds), runs_s=seconds,
              cpu_median_s=statistics.median(p["cpu_seconds"] for p in passes),
              cpu_over_wall=statistics.median(p["cpu_seconds"] / p["seconds"] for p in passes),
              stages_of_median_s=min(passes, key=lambda p: abs(p["seconds"] - median))["stages"])


def agreement(recording: Recording, spec: DatasetSpec) -> float:
  """Median over windows of the correlation between ours and MNE's windows."""
  a, b = ours(recording, spec, {}), with_mne(recording, spec, {})
  a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
  a = (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)
  b = (b - b.mean(1, keepdims=True)) / b.std(1, keepdims=True)
  return float(np.median((a * b).mean(axis=1)))


def bench_variant(root: Path, sfreq: int, args: argparse.Namespace) -> dict[str, object]:
  if not (root / synthetic.MANIFEST).exists():
    print(f"writing {args.files} x {args.minutes} min synthetic recordings at {sfreq} Hz to {root}",
          flush=True)
    synthetic.generate(root, n_patients=args.files // 2, recordings_per_patient=2,
                       duration_s=args.minutes * 60, sfreq=sfreq)
  reader = datasets.get("synthetic")
  recordings = list(reader.scan(root).recordings)
  spec = reader.spec  # output at 256 Hz for both input rates
  hours = len(recordings) * args.minutes / 60
  result = dict(input_sfreq=sfreq, files=len(recordings), hours=hours, channels=23)
  result.update(time_pipelines({"ours": ours, "mne": with_mne}, recordings, spec, args.repeats))
  for name in ("ours", "mne"):
    result[name]["eeg_hours_per_s_per_core"] = hours / result[name]["median_s"]
    result[name]["eeg_hours_per_cpu_s"] = hours / result[name]["cpu_median_s"]
  result["speedup"] = result["mne"]["median_s"] / result["ours"]["median_s"]
  result["speedup_cpu_time"] = result["mne"]["cpu_median_s"] / result["ours"]["cpu_median_s"]
  stages = {k: result["mne"]["stages_of_median_s"][k] / v
            for k, v in result["ours"]["stages_of_median_s"].items()}
  result["speedup_by_stage"] = stages
  result["median_window_correlation_vs_mne"] = agreement(recordings[0], spec)
  return result


def environment() -> dict[str, object]:
  return _env.environment(np, scipy, mne, pyedflib, jclip_eeg,
                          threads="OMP/OPENBLAS/MKL_NUM_THREADS=1, scipy.fft workers=1, MNE n_jobs=None")


def print_variant(v: dict[str, object]) -> None:
  for name in ("ours", "mne"):
    t = v[name]
    stages = ", ".join(f"{k} {s:.3f}" for k, s in t["stages_of_median_s"].items())
    print(f"{v['input_sfreq']:>5} Hz {name:>5} {t['median_s']:>8.3f} s [{t['min_s']:.3f}-"
          f"{t['max_s']:.3f}] {t['eeg_hours_per_s_per_core']:>6.2f} h/s/core "
          f"{t['eeg_hours_per_cpu_s']:>6.2f} h/CPU-s   ({stages})")
  by_stage = ", ".join(f"{k} x{s:.1f}" for k, s in v["speedup_by_stage"].items())
  print(f"{'':>8} speed-up x{v['speedup']:.2f} wall, x{v['speedup_cpu_time']:.2f} CPU time "
        f"({by_stage}); window correlation with MNE "
        f"{v['median_window_correlation_vs_mne']:.4f}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--files", type=int, default=8, help="recordings per variant (even)")
  parser.add_argument("--minutes", type=int, default=10, help="length of each recording")
  parser.add_argument("--rates", type=int, nargs="+", default=[256, 512])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--data", type=Path,
                      help="keep the synthetic files here and reuse them (default: temporary)")
  parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
  return parser.parse_args(argv)


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    data = args.data or Path(tmp)
    variants = [bench_variant(data / f"synthetic_{rate}hz", rate, args) for rate in args.rates]
  print(f"{'input':>8} {'':>5} {'median':>10} {'[min-max]':>15} {'EEG':>10}")
  for v in variants:
    print_variant(v)
  result = dict(benchmark="preprocess", environment=environment(), repeats=args.repeats,
                note="single process; the machine may be shared: compare ratios from one run",
                results=variants)
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(result, indent=1) + "\n")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main(sys.argv[1:])
