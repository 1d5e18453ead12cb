"""EDF/EDF+ reading and writing.

Reading parses the fixed-width EDF header itself and maps the data records
straight from the file as int16, then scales the picked channels to physical
float32 in one vectorised step. Measured CPU time on a 23-channel, 1-hour,
256 Hz file (2-core CPU, warm page cache): 0.04 s, against 0.41 s for pyedflib's
`readSignal` (float64, one channel at a time) and 0.07 s for MNE's
`read_raw_edf(preload=True)`. `EdfBlocks` reads any sample range of the picked
channels the same way, so recordings longer than memory can be streamed
(continuous detection); `read_edf` is its whole-file read. EDF+ annotations are read with pyedflib; files are
written with pyedflib's `EdfWriter` from digital samples we quantise ourselves,
one data record per call.

Data records of EDF+D (discontinuous) files are concatenated as if contiguous.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyedflib

from jclip_eeg.data.types import Signals
from jclip_eeg.errors import DataError

ANNOTATION_LABEL = "EDF Annotations"
# Physical dimension (lower case) -> factor to microvolts. Other dimensions
# (empty, "mmHg", ...) are passed through unscaled.
_TO_MICROVOLTS = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_DIGITAL_MIN, _DIGITAL_MAX = -32768, 32767
# Start stamped into written files unless given: a fixed date keeps files
# byte-identical between runs (EDF stores no time zone).
DEFAULT_START = datetime.datetime(2000, 1, 1, 0, 0, 0)
# EDF+ `Startdate dd-MMM-yyyy` month names (English, whatever the locale).
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclasses.dataclass(frozen=True)
class EdfHeader:
  """What an EDF file holds, without its samples.

  EDF+ annotation signals (`EDF Annotations`) are not listed.

  Attributes:
    path: the file.
    labels: signal labels as stored, stripped of padding.
    sfreqs: sampling rate of each signal in Hz.
    n_samples: number of samples of each signal in the file.
    duration_s: data records x record duration, in seconds.
    start: recording start from the header (local time, no time zone), None
      when the date/time fields do not parse (some anonymised files blank them).
  """
  path: Path
  labels: tuple[str, ...]
  sfreqs: tuple[float, ...]
  n_samples: tuple[int, ...]
  duration_s: float
  start: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class _Layout:
  """Byte layout and scaling of every stored signal (annotation signals included).

  `offsets[i]` is signal i's first sample within a data record (in samples),
  `gains`/`shifts` map digital values to microvolts: uv = digital * gain + shift.
  """
  header: EdfHeader
  data_offset: int
  n_records: int
  record_s: float
  record_len: int
  is_data: tuple[bool, ...]
  samples_per_record: tuple[int, ...]
  offsets: tuple[int, ...]
  gains: np.ndarray
  shifts: np.ndarray


# ----------------------------------------------------------------------------- header


def _fields(block: bytes, start: int, width: int, count: int) -> list[str]:
  """`count` consecutive fixed-width ASCII fields of `block` from byte `start`."""
  return [block[start + i * width:start + (i + 1) * width].decode("latin-1").strip()
          for i in range(count)]


def _numbers(path: Path, name: str, values: Sequence[str], kind: type) -> list:
  """Parses finite numeric header fields as `kind` (int or float); DataError names the field."""
  try:
    numbers = [float(v) for v in values]
  except ValueError:
    numbers = [float("nan")]
  if not all(np.isfinite(numbers)) or (kind is int and not all(x.is_integer() for x in numbers)):
    raise DataError(f"{path}: not a valid EDF file: header field '{name}' holds "
                    f"{list(values)!r}, expected {'whole ' if kind is int else ''}numbers")
  return [kind(x) for x in numbers]


def _read_prefix(path: Path, n_bytes: int) -> bytes:
  """The first `n_bytes` of `path`; DataError when missing or unreadable."""
  try:
    with open(path, "rb") as f:
      return f.read(n_bytes)
  except FileNotFoundError:
    raise DataError(f"{path}: EDF file not found") from None
  except OSError as e:
    raise DataError(f"{path}: cannot read EDF file ({e.strerror or e})") from None


def _main_header(path: Path) -> tuple[int, int, int, float]:
  """(header bytes, data records, signals, record duration s) from the first 256 bytes."""
  main = _read_prefix(path, 256)
  if len(main) < 256:
    raise DataError(f"{path}: not an EDF file ({len(main)} bytes, shorter than the "
                    "256-byte EDF header)")
  if main.startswith(b"\xffBIOSEMI"):
    raise DataError(f"{path}: BDF (24-bit) files are not supported, expected EDF")
  version, = _fields(main, 0, 8, 1)
  if version != "0":
    raise DataError(f"{path}: not an EDF file (version field {version!r}, expected '0')")
  header_bytes, n_records, ns = _numbers(
      path, "header bytes / data records / signals",
      _fields(main, 184, 8, 1) + _fields(main, 236, 8, 1) + _fields(main, 252, 4, 1), int)
  record_s, = _numbers(path, "data record duration", _fields(main, 244, 8, 1), float)
  if ns < 1 or header_bytes != 256 * (ns + 1):
    raise DataError(f"{path}: not a valid EDF file: {ns} signals but a header of "
                    f"{header_bytes} bytes (expected 256 x (signals + 1))")
  return header_bytes, n_records, ns, record_s


def _start(block: bytes) -> datetime.datetime | None:
  """Recording start from the header (EDF spec, edfplus.info), None when its fields do not parse.

  The date field is dd.mm.yy with years 85-99 meaning 19xx and 00-84 20xx (not
  strptime's %y pivot, which reads CHB-MIT's 76 as 1976); an EDF+ recording field
  `Startdate dd-MMM-yyyy ...` carries the four-digit date and wins. The time
  field is hh.mm.ss.
  """
  text = block[168:184].decode("latin-1")
  try:
    clock = datetime.datetime.strptime(text[8:], "%H.%M.%S").time()
  except ValueError:
    return None
  date = _recording_startdate(block[88:168].decode("latin-1")) or _header_date(text[:8])
  return datetime.datetime.combine(date, clock) if date else None


def _header_date(text: str) -> datetime.date | None:
  """dd.mm.yy with the EDF century rule (85-99: 19xx, 00-84: 20xx), or None."""
  match = re.fullmatch(r"(\d\d)\.(\d\d)\.(\d\d)", text)
  if match is None:
    return None
  day, month, yy = (int(g) for g in match.groups())
  try:
    return datetime.date(yy + (1900 if yy >= 85 else 2000), month, day)
  except ValueError:
    return None


def _recording_startdate(recording: str) -> datetime.date | None:
  """The date of an EDF+ recording field `Startdate 06-NOV-2076 ...`, or None (absent, `X`, malformed)."""
  match = re.match(r"Startdate (\d\d-[A-Za-z]{3}-\d{4})\b", recording)
  if match is None:
    return None
  day, month, year = match.group(1).split("-")
  if month.upper() not in _MONTHS:
    return None
  try:
    return datetime.date(int(year), _MONTHS.index(month.upper()) + 1, int(day))
  except ValueError:
    return None


def _read_layout(path: Path) -> _Layout:
  """Parses and checks the EDF header of `path` (see the EDF spec, edfplus.info)."""
  header_bytes, n_records, ns, record_s = _main_header(path)
  block = _read_prefix(path, header_bytes)
  if len(block) < header_bytes:
    raise DataError(f"{path}: truncated EDF file: the header promises {header_bytes} "
                    f"bytes but the file has {len(block)}")
  sig = block[256:]
  labels = _fields(sig, 0, 16, ns)
  units = _fields(sig, 96 * ns, 8, ns)
  pmin = np.array(_numbers(path, "physical minimum", _fields(sig, 104 * ns, 8, ns), float))
  pmax = np.array(_numbers(path, "physical maximum", _fields(sig, 112 * ns, 8, ns), float))
  dmin = np.array(_numbers(path, "digital minimum", _fields(sig, 120 * ns, 8, ns), int))
  dmax = np.array(_numbers(path, "digital maximum", _fields(sig, 128 * ns, 8, ns), int))
  spr = _numbers(path, "samples per record", _fields(sig, 216 * ns, 8, ns), int)
  is_data = tuple(label != ANNOTATION_LABEL for label in labels)
  _check_signals(path, labels, is_data, spr, pmin, pmax, dmin, dmax, record_s)

  record_len = sum(spr)
  size = path.stat().st_size
  inferred = n_records == -1  # allowed by the spec while recording: infer from the size
  if inferred:
    n_records = (size - header_bytes) // (2 * record_len)
  if n_records < 0:
    raise DataError(f"{path}: not a valid EDF file: {n_records} data records")
  _check_size(path, size, header_bytes + 2 * record_len * n_records, n_records, inferred)

  gains = (pmax - pmin) / (dmax - dmin)
  scale = np.array([_TO_MICROVOLTS.get(u.lower(), 1.0) for u in units])
  header = EdfHeader(
      path=path,
      labels=tuple(lab for lab, d in zip(labels, is_data) if d),
      sfreqs=tuple(s / record_s for s, d in zip(spr, is_data) if d),
      n_samples=tuple(s * n_records for s, d in zip(spr, is_data) if d),
      duration_s=n_records * record_s,
      start=_start(block))
  return _Layout(
      header=header, data_offset=header_bytes, n_records=n_records,
      record_s=record_s, record_len=record_len, is_data=is_data, samples_per_record=tuple(spr),
      offsets=tuple(int(o) for o in np.cumsum([0] + spr[:-1])),
      gains=gains * scale, shifts=(pmin - gains * dmin) * scale)


def _check_size(path: Path, size: int, expected: int, n_records: int, inferred: bool) -> None:
  """DataError when the file is shorter or longer than its header says: a longer file holds data records the
  header does not count (reading only the counted ones would silently drop the rest)."""
  if size < expected:
    raise DataError(f"{path}: truncated EDF file: the header promises {n_records} data records "
                    f"({expected} bytes) but the file has {size} bytes")
  if size > expected and not inferred:
    raise DataError(f"{path}: inconsistent EDF header: it counts {n_records} data records ({expected} bytes) "
                    f"but the file has {size} bytes; fix the 'number of data records' field (or set it to -1)")


def _check_signals(path: Path, labels: Sequence[str], is_data: Sequence[bool],
                   spr: Sequence[int], pmin: np.ndarray, pmax: np.ndarray,
                   dmin: np.ndarray, dmax: np.ndarray, record_s: float) -> None:
  """Rejects signal headers that would make scaling or timing meaningless."""
  for i, label in enumerate(labels):
    if spr[i] < 1:
      raise DataError(f"{path}: signal {i} ({label!r}) has {spr[i]} samples per record")
    if is_data[i] and (dmax[i] <= dmin[i] or pmax[i] == pmin[i]):
      raise DataError(
          f"{path}: signal {i} ({label!r}) has an empty range: digital "
          f"[{dmin[i]}, {dmax[i]}], physical [{pmin[i]}, {pmax[i]}]")
  if any(is_data) and record_s <= 0:
    raise DataError(f"{path}: data record duration is {record_s} s, expected > 0")


def read_header(path: str | os.PathLike) -> EdfHeader:
  """Labels, rates and sizes of an EDF/EDF+ file.

  Raises:
    DataError: naming the file when it is missing, unreadable, not an EDF file
      or shorter than its header promises.
  """
  return _read_layout(Path(path)).header


# ----------------------------------------------------------------------------- signals


def _pick_indices(layout: _Layout, picks: Sequence[str],
                  normalise: Callable[[str], str]) -> list[int]:
  """Stored-signal index of each pick; a repeated pick takes the next occurrence."""
  header = layout.header
  occurrences: dict[str, list[int]] = {}
  data_indices = [i for i, d in enumerate(layout.is_data) if d]
  for i, label in zip(data_indices, header.labels):
    occurrences.setdefault(normalise(label), []).append(i)
  missing = [p for p in dict.fromkeys(picks) if p not in occurrences]
  if missing:
    raise DataError(f"{header.path}: missing channel(s) {missing}; the file has "
                    f"{list(header.labels)}")
  used: dict[str, int] = {}
  indices = []
  for pick in picks:
    found = occurrences[pick]
    indices.append(found[min(used.get(pick, 0), len(found) - 1)])
    used[pick] = used.get(pick, 0) + 1
  return indices


def _common_rate(layout: _Layout, picks: Sequence[str], indices: Sequence[int]) -> int:
  """Samples per record shared by the picked signals; DataError when rates differ."""
  spr = {layout.samples_per_record[i] for i in indices}
  if len(spr) > 1:
    rates = {p: layout.samples_per_record[i] / layout.record_s
             for p, i in zip(picks, indices)}
    raise DataError(f"{layout.header.path}: picked channels have different sampling "
                    f"rates (Hz): {rates}")
  return spr.pop()


class EdfBlocks:
  """The channels `picks` of an EDF file, in that order, readable a sample range at a time.

  Opening parses the header only; `read` maps just the data records that hold
  the range. Channel matching and units are those of `read_edf`.

  Args:
    path: EDF or EDF+ file.
    picks: channel names, already in normalised form.
    normalise: maps a stored label to the form of `picks`.

  Attributes:
    path: the file; header: its `EdfHeader`; picks: the channel names read.
    sfreq: the picked signals' rate in Hz; n_samples: samples per picked channel.

  Raises:
    DataError: as `read_edf`.
  """

  def __init__(self, path: str | os.PathLike, picks: Sequence[str], *,
               normalise: Callable[[str], str] = str.upper):
    self.path = Path(path)
    self._layout = _read_layout(self.path)
    if not picks:
      raise DataError(f"{self.path}: no channels requested")
    self.picks = tuple(picks)
    self._indices = _pick_indices(self._layout, self.picks, normalise)
    self._spr = _common_rate(self._layout, self.picks, self._indices)
    self.header = self._layout.header
    self.sfreq = self._spr / self._layout.record_s
    self.n_samples = self._layout.n_records * self._spr

  def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Samples [start, stop) (default: to the end) of every picked channel: (C, stop - start) float32 µV."""
    stop = self.n_samples if stop is None else stop
    if not 0 <= start <= stop <= self.n_samples:
      raise DataError(f"{self.path}: sample range [{start}, {stop}) outside the recording's "
                      f"{self.n_samples} samples")
    if start == stop:  # np.memmap cannot map zero bytes
      return np.empty((len(self._indices), 0), np.float32)
    layout, spr = self._layout, self._spr
    first, last = start // spr, -(-stop // spr)  # the data records holding the range
    records = np.memmap(self.path, dtype="<i2", mode="r", offset=layout.data_offset + 2 * first * layout.record_len,
                        shape=(last - first, layout.record_len))
    data = np.empty((len(self._indices), (last - first) * spr), dtype=np.float32)
    for row, i in zip(data, self._indices):
      row.reshape(last - first, spr)[...] = records[:, layout.offsets[i]:layout.offsets[i] + spr]
    del records
    data = data[:, start - first * spr:stop - first * spr]
    data *= layout.gains[self._indices].astype(np.float32)[:, None]
    data += layout.shifts[self._indices].astype(np.float32)[:, None]
    return data


def read_edf(path: str | os.PathLike, picks: Sequence[str], *,
             normalise: Callable[[str], str] = str.upper) -> Signals:
  """Reads the channels `picks`, in that order, as microvolts.

  A stored signal matches a pick when `normalise(label) == pick`. A pick given
  k times takes the k-th stored signal with that label (CHB-MIT stores `T8-P8`
  twice), or the last one when the file has fewer. Unpicked signals may have any
  rate and are never read. For a part of the file, use `EdfBlocks`.

  Args:
    path: EDF or EDF+ file.
    picks: channel names, already in normalised form.
    normalise: maps a stored label to the form of `picks`.

  Returns:
    `Signals` with data (len(picks), T) float32 in µV (mV/V/nV are converted,
    other dimensions kept as stored), the picked signals' rate in Hz and
    `channel_names == tuple(picks)`.

  Raises:
    DataError: naming the file, for unreadable files, missing channels (listing
      the file's channels) or picked channels of different rates.
  """
  blocks = EdfBlocks(path, picks, normalise=normalise)
  return Signals(data=blocks.read(), sfreq=blocks.sfreq, channel_names=blocks.picks)


# ----------------------------------------------------------------------------- annotations


def read_annotations(path: str | os.PathLike) -> list[tuple[float, float, str]]:
  """EDF+ annotations of `path` as (onset_s, duration_s, text), in file order.

  Annotations without a duration get 0.0; a plain EDF file has none.
  """
  path = Path(path)
  _read_layout(path)  # clear errors for missing, foreign or truncated files
  try:
    with pyedflib.EdfReader(str(path)) as reader:
      onsets, durations, texts = reader.readAnnotations()
  except OSError as e:
    raise DataError(f"{path}: cannot read EDF+ annotations ({e})") from None
  return [(float(o), max(float(d), 0.0), str(t))
          for o, d, t in zip(onsets, durations, texts)]


# ----------------------------------------------------------------------------- writing

# edflib silently truncates longer annotation texts.
_MAX_ANNOTATION_CHARS = 40
_MAX_ANNOTATION_SIGNALS = 64


def _as_rows(path: Path, signals: Sequence[np.ndarray] | np.ndarray,
             n_labels: int) -> list[np.ndarray]:
  """One finite 1-D float64 array per channel; DataError on bad shapes or values."""
  rows = [np.asarray(s, dtype=np.float64) for s in signals]
  if len(rows) != n_labels:
    raise DataError(f"{path}: {len(rows)} signals but {n_labels} labels")
  for i, row in enumerate(rows):
    if row.ndim != 1 or not np.isfinite(row).all():
      raise DataError(f"{path}: signal {i} must be 1-D and finite (shape {row.shape})")
  return rows


def _physical_ranges(path: Path, rows: Sequence[np.ndarray],
                     physical_range: tuple[float, float] | None) -> list[tuple[float, float]]:
  """(min, max) in µV per channel: the given range, else ±ceil(max |x|), at least ±1."""
  if physical_range is None:
    return [(-top, top) for top in
            (float(max(1.0, np.ceil(np.abs(r).max(initial=0.0)))) for r in rows)]
  low, high = (float(v) for v in physical_range)
  if not low < high or max(len(str(low)), len(str(high))) > 8:
    raise DataError(f"{path}: physical_range {physical_range} must be (min < max), "
                    "each at most 8 characters as text (an EDF header field)")
  for i, row in enumerate(rows):
    if row.size and (row.min() < low or row.max() > high):
      raise DataError(f"{path}: signal {i} spans [{row.min():.6g}, {row.max():.6g}] µV, "
                      f"outside physical_range {physical_range}")
  return [(low, high)] * len(rows)


def _quantise(row: np.ndarray, low: float, high: float) -> np.ndarray:
  """µV -> EDF digital int16 over the full [-32768, 32767] range."""
  gain = (high - low) / (_DIGITAL_MAX - _DIGITAL_MIN)
  digital = np.rint((row - low) / gain) + _DIGITAL_MIN
  return np.clip(digital, _DIGITAL_MIN, _DIGITAL_MAX).astype(np.int16)


def _records(path: Path, digital: Sequence[np.ndarray], spr: Sequence[int],
             labels: Sequence[str]) -> np.ndarray:
  """(n_records, sum(spr)) int16 data records; every channel must fill the same count."""
  counts = {lab: d.size / s for lab, d, s in zip(labels, digital, spr)}
  n_records = digital[0].size // spr[0]
  if any(d.size != n_records * s for d, s in zip(digital, spr)):
    raise DataError(f"{path}: channels must cover the same whole number of data records; "
                    f"records per channel: {counts}")
  return np.concatenate([d.reshape(n_records, s) for d, s in zip(digital, spr)], axis=1)


def _check_labels(path: Path, labels: Sequence[str],
                  annotations: Sequence[tuple[float, float, str]]) -> None:
  for label in labels:
    if len(label) > 16 or not label.isascii():
      raise DataError(f"{path}: label {label!r} must be ASCII, at most 16 characters")
  for _, _, text in annotations:
    if len(text) > _MAX_ANNOTATION_CHARS:
      raise DataError(f"{path}: annotation {text!r} is longer than "
                      f"{_MAX_ANNOTATION_CHARS} characters")


def write_edf(path: str | os.PathLike, signals: Sequence[np.ndarray] | np.ndarray,
              sfreqs: float | Sequence[float], labels: Sequence[str], *,
              annotations: Sequence[tuple[float, float, str]] = (),
              physical_range: tuple[float, float] | None = None,
              start: datetime.datetime | None = None) -> Path:
  """Writes signals in µV as an EDF file (EDF+ when there are annotations).

  The file appears atomically: it is written beside `path` under a temporary
  name and renamed. Values are quantised to 16 bits over each channel's physical
  range, so they read back within half a step, (max - min) / 65535 / 2 µV.

  Args:
    path: destination file.
    signals: (C, T) array, or C 1-D arrays when channels have different rates;
      every channel must span the same whole number of data records (1 s for
      integer rates).
    sfreqs: one rate in Hz for all channels, or one per channel.
    labels: C labels, ASCII, at most 16 characters; repeats are allowed.
    annotations: (onset_s, duration_s, text) EDF+ annotations, text at most 40
      characters; a negative duration means none.
    physical_range: (min, max) µV for every channel; default per channel
      ±ceil(max |x|).
    start: recording start; default `DEFAULT_START` (reproducible bytes).

  Returns:
    `path` as a Path.
  """
  path = Path(path)
  rows = _as_rows(path, signals, len(labels))
  rates = [float(sfreqs)] * len(rows) if np.isscalar(sfreqs) else [float(f) for f in sfreqs]
  if len(rates) != len(rows) or min(rates, default=0.0) <= 0:
    raise DataError(f"{path}: need one positive rate per signal, got {sfreqs}")
  _check_labels(path, labels, annotations)
  ranges = _physical_ranges(path, rows, physical_range)
  plus = bool(annotations)
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  try:
    writer = pyedflib.EdfWriter(
        str(tmp), len(rows),
        file_type=pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF)
    try:
      _fill(writer, path, rows, rates, labels, ranges, annotations,
            start or DEFAULT_START)
    finally:
      writer.close()
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def _fill(writer: pyedflib.EdfWriter, path: Path, rows: Sequence[np.ndarray],
          rates: Sequence[float], labels: Sequence[str],
          ranges: Sequence[tuple[float, float]],
          annotations: Sequence[tuple[float, float, str]],
          start: datetime.datetime) -> None:
  """Sets the headers of an open writer, then writes records and annotations."""
  writer.setStartdatetime(start)
  writer.setSignalHeaders([
      dict(label=label, dimension="uV", sample_frequency=rate, physical_min=low,
           physical_max=high, digital_min=_DIGITAL_MIN, digital_max=_DIGITAL_MAX,
           transducer="", prefilter="")
      for label, rate, (low, high) in zip(labels, rates, ranges)])
  spr = [writer.get_smp_per_record(i) for i in range(len(rows))]
  digital = [_quantise(r, low, high) for r, (low, high) in zip(rows, ranges)]
  records = _records(path, digital, spr, labels)
  if annotations:
    # edflib stores one annotation per annotation signal per record and drops the rest.
    per_record = -(-len(annotations) // max(len(records), 1))
    if per_record > _MAX_ANNOTATION_SIGNALS:
      raise DataError(f"{path}: {len(annotations)} annotations do not fit in "
                      f"{len(records)} data records")
    writer.set_number_of_annotation_signals(per_record)
  for record in records:
    if writer.blockWriteDigitalShortSamples(record) != 0:
      raise DataError(f"{path}: writing a data record failed")
  for onset, duration, text in annotations:
    writer.writeAnnotation(onset, duration, text)
