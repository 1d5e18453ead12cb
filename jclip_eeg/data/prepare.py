"""Raw dataset -> pre-epoched `EpochStore`: parallel, resumable, never half-written.

`prepare_store(dataset, root, out)` scans the raw root with the dataset's reader,
then for every recording (in worker processes) loads, preprocesses
(`preprocess.py`) and cuts labelled windows (`windows.py`), and finally streams
all windows into `StoreWriter`, whose commit renames a staging directory into
`out`. So `out` either does not exist or is a complete store.

Resuming: each finished recording is saved atomically (written under a
temporary name, then renamed) as a part file in the hidden sibling directory
`.<out name>.parts-<key>`, where key hashes everything that determines the
windows: dataset, reader options, root, spec, preprocessing and windowing
settings, dtype and `PARTS_VERSION`. A part's file name also hashes its source
file's path, size and modification time, so a changed raw file is redone. A
rerun after a crash or `kill -9` reuses the finished parts; parts directories
of other settings (and staging directories left by an interrupted commit) are
deleted. After a successful commit the parts directory is removed.

Recordings whose `load()` (or preprocessing) raises `DataError` are skipped
with a warning and listed, with the reason, in the store metadata `skipped`
together with the reader's own skipped files (also warned about);
`strict=True` makes the first of either fatal.

An existing store at `out` is kept only when it is the same preparation
(dataset, options, root, label rule, window length, dtype, preprocessing);
another one is refused (`overwrite=True` replaces it). One preparation at a
time writes to `out`: a second is refused with `InUse`, naming the first
(`locks.py`, lock file `.<out name>.lock` beside it). Store metadata also holds `dataset`, `options`, `label_rule`,
`window_s`, `preprocessing` and a `report` (windows per class and per
recording, dropped windows by reason, hours of EEG, flat channels, and under
`report["run"]` the seconds taken and parts reused: the only part of a store
that differs between an interrupted-and-resumed run and an uninterrupted one).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tqdm

from jclip_eeg import locks
from jclip_eeg.data import datasets
from jclip_eeg.data.preprocess import PreprocessSettings, preprocess
from jclip_eeg.data.store import EpochStore, StoreWriter
from jclip_eeg.data.types import DatasetSpec, Recording, ScanResult
from jclip_eeg.data.windows import check_rule, cut_windows, plan_windows, segment_plan
from jclip_eeg.errors import ConfigError, DataError

PARTS_VERSION = 1
DTYPES = ("float32", "float16")
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Job:
  """What every worker needs to turn one recording into windows (picklable)."""
  spec: DatasetSpec
  preprocess: PreprocessSettings
  label_rule: str = "touch"
  window_s: float = 1.0
  dtype: str = "float32"

  def __post_init__(self):
    check_rule(self.label_rule)
    if self.dtype not in DTYPES:
      raise ConfigError(f"dtype: {self.dtype!r}; expected one of {', '.join(DTYPES)}")


def existing_store(out: str | os.PathLike) -> EpochStore | None:
  """The complete store at `out`, None when `out` is absent or an empty directory.

  Raises:
    DataError: `out` holds something that is not a complete store (it is never
      replaced: that could delete someone's files).
  """
  out = Path(out)
  if not out.exists() or (out.is_dir() and not any(out.iterdir())):
    return None
  try:
    return EpochStore(out)
  except DataError as error:
    raise DataError(f"{out} exists and is not a complete store, so it is left alone: "
                    f"{error}. Remove it or choose another output directory") from None


def prepare_store(dataset: str, root: str | os.PathLike, out: str | os.PathLike, *,
                  options: Mapping[str, Any] | None = None, workers: int | None = None,
                  label_rule: str = "touch", window_s: float = 1.0, dtype: str = "float32",
                  strict: bool = False, overwrite: bool = False,
                  progress: bool = True) -> EpochStore:
  """Prepares (or resumes preparing) the store of `dataset` at `out`.

  Args:
    dataset: registry name ("chbmit", "tusz", "neonatal", "aubmc", "synthetic").
    root: the raw dataset directory.
    out: the store directory to create.
    options: reader options, e.g. {"consensus": "all"} (see `datasets.get`).
    workers: worker processes; default os.cpu_count(); 1 runs in this process.
    label_rule: "touch", "majority" or "center" (`windows.py`).
    window_s: window length in seconds.
    dtype: "float32" or "float16" for the stored windows.
    strict: a file the reader skips, or a recording that fails to load, is an error instead of skipped.
    overwrite: replace an existing complete store (else it is returned as is).
    progress: show a tqdm progress bar.

  Returns:
    The store at `out`.

  Raises:
    ConfigError: unknown dataset, option or setting.
    DataError: unusable root, a skipped file or failing recording with
      `strict`, no window left, or `out` holding something that is not a
      store or another preparation.
    InUse: another preparation is writing to `out`.
  """
  reader, job, identity = _preparation(dataset, root, options, label_rule, window_s, dtype)
  store = _store_to_keep(Path(out), overwrite, job, identity)
  if store is not None:
    return store
  scan = reader.scan(root)
  return write_store(scan, job, out, identity=identity, workers=workers, strict=strict,
                     overwrite=overwrite, progress=progress)


def existing_preparation(dataset: str, root: str | os.PathLike, out: str | os.PathLike, *,
                         options: Mapping[str, Any] | None = None, label_rule: str = "touch",
                         window_s: float = 1.0, dtype: str = "float32") -> EpochStore | None:
  """The complete store at `out` if it is this preparation (`prepare_store`'s arguments), None when `out` is
  absent or empty.

  Raises:
    DataError: `out` holds another preparation, or something that is not a store.
  """
  _, job, identity = _preparation(dataset, root, options, label_rule, window_s, dtype)
  return _store_to_keep(Path(out), False, job, identity)


def _preparation(dataset: str, root: str | os.PathLike, options: Mapping[str, Any] | None, label_rule: str,
                 window_s: float, dtype: str) -> tuple[datasets.Dataset, Job, dict[str, Any]]:
  """(reader, job, identity) of a preparation: everything that decides the store's windows."""
  options = dict(options or {})
  reader = datasets.get(dataset, **options)
  job = Job(spec=reader.spec, preprocess=PreprocessSettings.for_spec(reader.spec),
            label_rule=label_rule, window_s=window_s, dtype=dtype)
  return reader, job, {"dataset": dataset, "options": options, "root": str(Path(root).resolve())}


def write_store(scan: ScanResult, job: Job, out: str | os.PathLike, *,
                identity: Mapping[str, Any], workers: int | None = None, strict: bool = False,
                overwrite: bool = False, progress: bool = True) -> EpochStore:
  """The store of already scanned recordings (`prepare_store` after the scan).

  `identity` (JSON-serialisable: dataset name, options, root) is saved in the
  metadata and, with `job`, keys the resumable parts.
  """
  out = Path(out)
  with locks.hold(out.parent / f".{out.name}.lock", what=f"store {out}"):
    store = _store_to_keep(out, overwrite, job, identity)
    if store is not None:
      return store
    _check_scan(scan, job, strict)
    return _write_parts_and_commit(scan, job, out, identity, workers, strict, overwrite, progress)


def _check_scan(scan: ScanResult, job: Job, strict: bool) -> None:
  """Warns about each file the reader skipped; DataError when nothing is usable, or for a skip with `strict`."""
  for path, reason in scan.skipped:
    _log.warning("skipping %s: %s", path, reason)
  if strict and scan.skipped:
    path, reason = scan.skipped[0]
    raise DataError(f"{path}: {reason} ({len(scan.skipped)} file(s) unusable; strict mode: rerun without "
                    "--strict to skip them)")
  if not scan.recordings:
    raise DataError(f"no usable recordings for {job.spec.name!r}; "
                    f"skipped: {_describe_skipped(scan.skipped)}")


def _write_parts_and_commit(scan: ScanResult, job: Job, out: Path, identity: Mapping[str, Any],
                            workers: int | None, strict: bool, overwrite: bool, progress: bool) -> EpochStore:
  """Prepares the recordings not yet in the parts directory, then commits the store (module docstring)."""
  started = time.perf_counter()
  parts = _parts_dir(out, job, identity)
  paths = [parts / _part_name(r) for r in scan.recordings]
  todo = [(r, p) for r, p in zip(scan.recordings, paths) if not p.exists()]
  reused = len(paths) - len(todo)
  if reused:
    _log.info("resuming: %d of %d recordings already prepared in %s", reused, len(paths), parts)
  workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
  with tqdm.tqdm(total=len(paths), initial=reused, unit="rec", desc=f"prepare {job.spec.name}",
                 disable=not progress) as bar:
    for recording, error in _run(todo, job, workers):
      bar.update()
      if error:
        if strict:
          raise DataError(f"{error} (strict mode; rerun without --strict to skip such recordings)")
        _log.warning("skipping %s: %s", recording.source, error)
  infos = [_part_info(p) for p in paths]
  run = {"workers": workers, "parts_reused": reused}
  store = _commit(scan, job, out, paths, infos, identity, started, run, overwrite=overwrite)
  shutil.rmtree(parts, ignore_errors=True)
  return store


def _store_to_keep(out: Path, overwrite: bool, job: Job, identity: Mapping[str, Any]) -> EpochStore | None:
  """The existing store at `out` unless `overwrite`; DataError when `out` is not a store or another
  preparation."""
  store = existing_store(out)
  if store is None or overwrite:
    return None
  wanted, found = _settings_record(job, identity), _stored_settings(store, job)
  different = [f"{key}={found.get(key)!r} (this preparation: {value!r})" for key, value in wanted.items()
               if found.get(key) != value]
  if different:
    raise DataError(f"{out}: holds a store prepared with other settings: {'; '.join(different)}. Choose another "
                    "output directory, or pass --overwrite (overwrite=True) to replace it")
  _log.info("%s already exists (pass overwrite=True / --overwrite to rebuild it)", out)
  return store


def _settings_record(job: Job, identity: Mapping[str, Any]) -> dict[str, Any]:
  """What decides a store's windows, as JSON types (tuples become lists)."""
  record = {**identity, "label_rule": job.label_rule, "window_s": job.window_s, "dtype": job.dtype,
            "preprocessing": dataclasses.asdict(job.preprocess)}
  return json.loads(json.dumps(record))


def _stored_settings(store: EpochStore, job: Job) -> dict[str, Any]:
  """`_settings_record` of an existing store, from its metadata and window dtype."""
  meta = store.metadata
  preprocessing = meta.get("preprocessing") or {}
  record = {key: meta.get(key) for key in ("dataset", "options", "root", "label_rule", "window_s")}
  record |= {"dtype": str(store.x.dtype),
             "preprocessing": {key: preprocessing.get(key) for key in dataclasses.asdict(job.preprocess)}}
  return json.loads(json.dumps(record))


# ----------------------------------------------------------------------------- one recording


def process_recording(recording: Recording, job: Job, part: Path) -> str | None:
  """Loads, preprocesses and windows one recording into the part file `part`.

  Returns:
    None, or the reason (a DataError message) the recording is unusable; the
    reason is saved in the part too, so a resumed run does not retry it.
  """
  try:
    arrays, info = _windows_of(recording, job)
  except DataError as error:
    arrays, info = {}, {"error": str(error)}
  _save_part(part, arrays, info)
  return info.get("error")


def _windows_of(recording: Recording, job: Job) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  signals = recording.load()
  pre = preprocess(signals, job.preprocess, source=recording.source,
                   is_segment=recording.is_segment)
  n_samples = pre.data.shape[1]
  if not recording.is_segment and n_samples < job.window_s * pre.sfreq:
    raise DataError(f"{recording.source}: {signals.duration_s:g} s of EEG, shorter than one {job.window_s:g}-s "
                    "window")
  common = dict(window_s=job.window_s, source=recording.source)
  if recording.is_segment:
    plan = segment_plan(n_samples, pre.sfreq, recording.events, job.spec.class_names, **common)
  else:
    plan = plan_windows(n_samples, pre.sfreq, recording.events, job.spec.class_names,
                        seizure_overlap=job.spec.seizure_overlap, rule=job.label_rule, **common)
  arrays = {"x": cut_windows(pre.data, plan, job.dtype), "y": plan.label,
            "start_s": plan.start_s}
  info = {"duration_s": signals.duration_s, "dropped": plan.dropped,
          "flat_channels": list(pre.flat_channels)}
  return arrays, info


def _run(todo: Sequence[tuple[Recording, Path]], job: Job,
         workers: int) -> Iterator[tuple[Recording, str | None]]:
  """(recording, error or None) as each recording is finished, in completion order."""
  if workers == 1:
    for recording, part in todo:
      yield recording, process_recording(recording, job, part)
    return
  # spawn: forking a process that may hold threads (JAX, BLAS) can deadlock.
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
    futures = {pool.submit(process_recording, r, job, p): r for r, p in todo}
    try:
      for future in concurrent.futures.as_completed(futures):
        yield futures[future], future.result()
    finally:
      pool.shutdown(cancel_futures=True)


# ----------------------------------------------------------------------------- parts


def _parts_dir(out: Path, job: Job, identity: Mapping[str, Any]) -> Path:
  """The parts directory of this job; removes other jobs' parts and stale staging dirs."""
  settings = {"identity": identity, "job": dataclasses.asdict(job), "version": PARTS_VERSION}
  text = json.dumps(settings, sort_keys=True, default=str)
  key = hashlib.sha256(text.encode()).hexdigest()[:16]
  parts = out.parent / f".{out.name}.parts-{key}"
  out.parent.mkdir(parents=True, exist_ok=True)
  prefixes = (f".{out.name}.parts-", f".{out.name}.staging-")
  for stale in out.parent.iterdir():
    if stale.name.startswith(prefixes) and stale != parts:
      _log.info("removing %s (left by an interrupted run with other settings or a crashed commit)",
                stale)
      shutil.rmtree(stale, ignore_errors=True)
  parts.mkdir(exist_ok=True)
  (parts / "settings.json").write_text(text)  # for whoever wonders what the directory is
  return parts


def _part_name(recording: Recording) -> str:
  """`<recording id>.<hash of source path, size, mtime>.npz`."""
  try:
    stat = recording.source.stat()
    fingerprint = f"{recording.source}|{stat.st_size}|{stat.st_mtime_ns}"
  except OSError:
    fingerprint = f"{recording.source}|missing"
  return f"{recording.recording_id}.{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}.npz"


def _save_part(path: Path, arrays: Mapping[str, np.ndarray], info: Mapping[str, Any]) -> None:
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  with open(tmp, "wb") as f:
    np.savez(f, info=np.array(json.dumps(info)), **arrays)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _part_info(path: Path) -> dict[str, Any]:
  with np.load(path) as part:
    info = json.loads(str(part["info"]))
    if "y" in part:
      info["y"] = part["y"]
  return info


# ----------------------------------------------------------------------------- the store


def _commit(scan: ScanResult, job: Job, out: Path, paths: Sequence[Path],
            infos: Sequence[dict[str, Any]], identity: Mapping[str, Any], started: float,
            run: Mapping[str, Any], *, overwrite: bool) -> EpochStore:
  """Streams the usable parts into a `StoreWriter` and commits it with the metadata.

  `report["run"]` gets `run` plus the seconds since `started` (a perf_counter time).
  """
  usable = [i for i, info in enumerate(infos) if "error" not in info]
  skipped = [{"path": path, "reason": reason} for path, reason in scan.skipped]
  skipped += [{"path": str(scan.recordings[i].source), "reason": info["error"]}
              for i, info in enumerate(infos) if "error" in info]
  n_windows = sum(len(infos[i]["y"]) for i in usable)
  if not n_windows:
    raise DataError(f"no windows left for {job.spec.name!r} out of {len(infos)} recordings; "
                    f"skipped: {_describe_skipped([(s['path'], s['reason']) for s in skipped])}")
  spec = job.spec
  n_times = round(job.window_s * job.preprocess.sfreq)
  writer = StoreWriter(out, n_windows=n_windows, n_channels=len(spec.channel_names),
                       n_times=n_times, dtype=job.dtype)
  try:
    for index, i in enumerate(usable):
      with np.load(paths[i]) as part:
        writer.append(part["x"], part["y"], index, part["start_s"])
    recordings = [_recording_entry(scan.recordings[i], infos[i]) for i in usable]
    report = _report(spec, recordings, [infos[i] for i in usable], len(skipped))
    report["run"] = {**run, "seconds": round(time.perf_counter() - started, 3)}
    if out.is_dir() and not any(out.iterdir()):  # existing_store allows an empty directory
      out.rmdir()
    return writer.commit(
        class_names=spec.class_names, channel_names=spec.channel_names, sfreq=spec.sfreq,
        recordings=recordings, overwrite=overwrite, **dict(identity),
        label_rule=job.label_rule, window_s=job.window_s, seizure_overlap=spec.seizure_overlap,
        preprocessing=_preprocessing_record(job), skipped=skipped, report=report)
  except BaseException:
    writer.abort()
    raise


def _recording_entry(recording: Recording, info: Mapping[str, Any]) -> dict[str, Any]:
  return {"id": recording.recording_id, "patient": recording.patient,
          "source": str(recording.source), "duration_s": info["duration_s"],
          "n_windows": int(len(info["y"])), "flat_channels": info["flat_channels"]}


def _preprocessing_record(job: Job) -> dict[str, Any]:
  return {**dataclasses.asdict(job.preprocess),
          "filter": "zero-phase Butterworth power response, frequency domain",
          "zscore": "per channel per recording; flat channels set to 0",
          "segments": "pre-cut segments are only z-scored", "parts_version": PARTS_VERSION}


def _report(spec: DatasetSpec, recordings: Sequence[Mapping[str, Any]],
            infos: Sequence[Mapping[str, Any]], n_skipped: int) -> dict[str, Any]:
  """Counts per class and per recording, dropped windows by reason, hours of EEG."""
  dropped: collections.Counter[str] = collections.Counter()
  per_recording = {}
  total = np.zeros(len(spec.class_names), np.int64)
  for entry, info in zip(recordings, infos):
    counts = np.bincount(info["y"], minlength=len(spec.class_names))
    total += counts
    dropped.update(info["dropped"])
    per_recording[entry["id"]] = {
        "windows": dict(zip(spec.class_names, counts.tolist())), "dropped": info["dropped"]}
  return {"windows": int(total.sum()),
          "windows_per_class": dict(zip(spec.class_names, total.tolist())),
          "dropped": dict(sorted(dropped.items())),
          "hours": round(sum(r["duration_s"] for r in recordings) / 3600, 4),
          "recordings": len(recordings), "patients": len({r["patient"] for r in recordings}),
          "skipped": n_skipped,
          "flat_channels": {r["id"]: r["flat_channels"] for r in recordings if r["flat_channels"]},
          "per_recording": per_recording}


def _describe_skipped(skipped: Sequence[tuple[str, str]], limit: int = 5) -> str:
  if not skipped:
    return "none"
  shown = "; ".join(f"{path} ({reason})" for path, reason in skipped[:limit])
  return shown + (f"; ... {len(skipped) - limit} more" if len(skipped) > limit else "")
