"""Parsers for the seizure annotation files of CHB-MIT, TUSZ, the Helsinki neonatal set, Siena and BIDS (SzCORE).

All parsers return `Event`s in seconds from the start of the recording (Siena's
lists hold clock times: `SienaFile.events` turns them into offsets). Background
labels (TUSZ `bckg`) are not events. Labels are passed through as written (lower
case for TUSZ); readers decide which of them are classes. Every malformed line or
value raises `DataError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from jclip_eeg.data.types import Event
from jclip_eeg.errors import DataError

BACKGROUND = "bckg"
CONSENSUS_RULES = ("all", "majority", "any")


@dataclasses.dataclass(frozen=True)
class Annotation:
  """Events of one recording plus the span the annotation file covers.

  Attributes:
    events: non-background events sorted by (start, label).
    extent_s: seconds the annotation says the recording lasts (TUSZ `# duration`,
      the last `.tse` stop time, the neonatal row count); 0 when it does not say.
  """
  events: tuple[Event, ...]
  extent_s: float = 0.0


# ----------------------------------------------------------------------------- intervals


def merge_intervals(events: Iterable[Event]) -> tuple[Event, ...]:
  """Union of the intervals of each label: overlapping or touching ones become one event.

  Used to turn TUSZ per-channel rows into term-level events (a seizure seen on
  FP1-F7 from 10-20 s and on F7-T3 from 15-30 s is one 10-30 s event).
  """
  by_label: dict[str, list[Event]] = collections.defaultdict(list)
  for event in events:
    by_label[event.label].append(event)
  merged = []
  for label, group in by_label.items():
    group.sort(key=lambda e: e.start_s)
    start, end = group[0].start_s, group[0].end_s
    for event in group[1:]:
      if event.start_s <= end:
        end = max(end, event.end_s)
      else:
        merged.append(Event(start, end, label))
        start, end = event.start_s, event.end_s
    merged.append(Event(start, end, label))
  return tuple(sorted(merged, key=lambda e: (e.start_s, e.label)))


def runs_to_events(mask: np.ndarray, label: str, step_s: float = 1.0) -> tuple[Event, ...]:
  """Runs of True in a per-step mask -> events [first step, last step + 1) * `step_s`.

  Args:
    mask: (T,) bool, one entry per `step_s` seconds.
  """
  padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
  edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
  return tuple(Event(float(a) * step_s, float(b) * step_s, label)
               for a, b in zip(edges[0::2], edges[1::2]))


def read_lines(path: Path) -> list[str]:
  """The lines of a text annotation file (bytes that are not UTF-8 become U+FFFD); DataError naming the file
  when it cannot be read (missing, a folder, no permission)."""
  try:
    return path.read_text(errors="replace").splitlines()
  except OSError as error:
    raise DataError(f"{path}: cannot read the annotation file ({error.strerror or error})") from None


def _check_interval(path: Path, where: str, start: float, end: float) -> None:
  if not (0.0 <= start < end):
    raise DataError(f"{path}: {where}: interval {start}-{end} s is empty or negative; "
                    "expected 0 <= start < stop")


# ----------------------------------------------------------------------------- CHB-MIT

_FILE_NAME = re.compile(r"^File Name:\s*(\S+)\s*$", re.IGNORECASE)
_N_SEIZURES = re.compile(r"^Number of Seizures in File:\s*(\d+)\s*$", re.IGNORECASE)
# Both spellings: `Seizure Start Time: 2996 seconds` and `Seizure 1 Start Time: 2996 seconds`.
_SEIZURE_TIME = re.compile(
    r"^Seizure(?:\s+\d+)?\s+(Start|End)\s+Time\s*:\s*(\d+(?:\.\d+)?)\s*(?:seconds|secs|s)?\s*$",
    re.IGNORECASE)


@dataclasses.dataclass
class _SummaryFile:
  name: str
  line: int
  declared: int | None = None
  starts: list[float] = dataclasses.field(default_factory=list)
  ends: list[float] = dataclasses.field(default_factory=list)


def parse_chbmit_summary(path: str | Path, label: str = "seizure") -> dict[str, tuple[Event, ...]]:
  """`chbNN-summary.txt` -> {EDF file name: seizure events}, in file order.

  Files listed with zero seizures map to an empty tuple. The number of start/end
  pairs must equal `Number of Seizures in File`. Channel blocks (including
  `Channels changed:`) are ignored: readers pick channels by name.
  """
  path = Path(path)
  files: list[_SummaryFile] = []
  for number, raw in enumerate(read_lines(path), start=1):
    line = raw.strip()
    if match := _FILE_NAME.match(line):
      files.append(_SummaryFile(match.group(1), number))
      continue
    n_match, t_match = _N_SEIZURES.match(line), _SEIZURE_TIME.match(line)
    if not (n_match or t_match):
      continue
    if not files:
      raise DataError(f"{path}:{number}: {line!r} before any 'File Name:' line")
    if n_match:
      files[-1].declared = int(n_match.group(1))
    else:
      kind, seconds = t_match.group(1).lower(), float(t_match.group(2))
      (files[-1].starts if kind == "start" else files[-1].ends).append(seconds)
  return {f.name: _summary_events(path, f, label) for f in _unique(path, files)}


def _unique(path: Path, files: list[_SummaryFile]) -> list[_SummaryFile]:
  seen: dict[str, int] = {}
  for f in files:
    if f.name in seen:
      raise DataError(f"{path}:{f.line}: {f.name} listed twice (first at line {seen[f.name]})")
    seen[f.name] = f.line
  return files


def _summary_events(path: Path, f: _SummaryFile, label: str) -> tuple[Event, ...]:
  where = f"{f.name} (line {f.line})"
  if len(f.starts) != len(f.ends):
    raise DataError(f"{path}: {where}: {len(f.starts)} seizure start times but "
                    f"{len(f.ends)} end times")
  if f.declared is not None and f.declared != len(f.starts):
    raise DataError(f"{path}: {where}: 'Number of Seizures in File: {f.declared}' "
                    f"but {len(f.starts)} start/end pairs follow")
  events = []
  for start, end in zip(f.starts, f.ends):
    _check_interval(path, where, start, end)
    events.append(Event(start, end, label))
  return tuple(events)


# ----------------------------------------------------------------------------- TUSZ

_DURATION = re.compile(r"^#\s*duration\s*=\s*([\d.]+)\s*(?:secs|seconds|s)?\s*$", re.IGNORECASE)
_CSV_COLUMNS = ("channel", "start_time", "stop_time", "label")


def parse_tusz_csv(path: str | Path) -> Annotation:
  """TUSZ v2 `.csv` (per-channel seizure types) or `.csv_bi` (term-level bckg/seiz).

  Format: `#` header lines (one of them `# duration = 1831.00 secs`), then
  `channel,start_time,stop_time,label,confidence` rows. Intervals of the same
  label are merged across channels (union), so `.csv` gives term-level events.
  """
  path = Path(path)
  lines = read_lines(path)
  extent = 0.0
  body = []
  for number, line in enumerate(lines, start=1):
    if line.startswith("#"):
      if match := _DURATION.match(line.strip()):
        extent = float(match.group(1))
    elif line.strip():
      body.append((number, line))
  if not body:
    raise DataError(f"{path}: no 'channel,start_time,stop_time,label,confidence' header; "
                    "expected a TUSZ v2 .csv/.csv_bi file")
  header = [h.strip().lower() for h in next(csv.reader([body[0][1]]))]
  if any(c not in header for c in _CSV_COLUMNS):
    raise DataError(f"{path}:{body[0][0]}: header {header} lacks one of {list(_CSV_COLUMNS)}")
  columns = [header.index(c) for c in _CSV_COLUMNS[1:]]
  events = []
  for number, line in body[1:]:
    row = next(csv.reader([line]))
    if len(row) != len(header):
      raise DataError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
    events.append(_interval(path, number, [row[i] for i in columns]))
  return _annotation(events, extent)


def parse_tse(path: str | Path) -> Annotation:
  """Legacy TUSZ `.tse` / `.tse_bi`: `version = tse_v1.0.0`, then `start stop label confidence`.

  The last stop time is taken as the annotated extent (the file tiles the whole
  recording with `bckg`).
  """
  path = Path(path)
  events = []
  for number, line in enumerate(read_lines(path), start=1):
    fields = line.split()
    if not fields or line.lstrip().lower().startswith("version"):
      continue
    events.append(_interval(path, number, fields[:3]))
  if not events:
    raise DataError(f"{path}: no 'start stop label confidence' lines; "
                    "expected a TUSZ .tse/.tse_bi file")
  return _annotation(events, max(e.end_s for e in events))


def _interval(path: Path, number: int, fields: Sequence[str]) -> Event:
  """(start, stop, label) strings -> Event, or DataError naming file and line."""
  if len(fields) != 3:
    raise DataError(f"{path}:{number}: expected start, stop and label, got {list(fields)}")
  try:
    start, end = float(fields[0]), float(fields[1])
  except ValueError:
    raise DataError(f"{path}:{number}: start/stop {fields[0]!r}, {fields[1]!r} "
                    "are not numbers") from None
  _check_interval(path, f"line {number}", start, end)
  return Event(start, end, fields[2].strip().lower())


def _annotation(events: Sequence[Event], extent_s: float) -> Annotation:
  seizures = merge_intervals(e for e in events if e.label != BACKGROUND)
  return Annotation(seizures, max([extent_s] + [e.end_s for e in events]))


# ----------------------------------------------------------------------------- Helsinki neonatal


def parse_neonatal(path: str | Path) -> dict[str, np.ndarray]:
  """`annotations_2017_X.csv` -> {baby id: (T,) bool, one entry per second, True = seizure}.

  The header row holds the baby ids; each following row is one second. A
  baby's column ends where its recording ends (empty cells after that); an empty
  cell followed by a value is an error.
  """
  path = Path(path)
  rows = list(csv.reader(read_lines(path)))
  if not rows or not all(cell.strip() for cell in rows[0]):
    raise DataError(f"{path}: first row must name every baby (ids 1..79), got {rows[:1]}")
  ids = [cell.strip() for cell in rows[0]]
  width = len(ids)
  grid = np.full((len(rows) - 1, width), -1, dtype=np.int8)
  for number, row in enumerate(rows[1:], start=2):
    if len(row) > width:
      raise DataError(f"{path}:{number}: {len(row)} cells, header has {width}")
    for j, cell in enumerate(row):
      cell = cell.strip()
      if cell:
        if cell not in ("0", "1"):
          raise DataError(f"{path}:{number}: baby {ids[j]}: value {cell!r}, expected 0 or 1")
        grid[number - 2, j] = int(cell)
  return {baby: _column(path, baby, grid[:, j]) for j, baby in enumerate(ids)}


def _column(path: Path, baby: str, column: np.ndarray) -> np.ndarray:
  empty = np.flatnonzero(column < 0)
  length = int(empty[0]) if empty.size else column.size
  if np.any(column[length:] >= 0):
    raise DataError(f"{path}: baby {baby}: empty cell at second {length} followed by values")
  return column[:length] == 1


def consensus(experts: Mapping[str, Mapping[str, np.ndarray]], rule: str) -> dict[str, np.ndarray]:
  """Combine per-expert per-second masks into one mask per baby.

  Args:
    experts: {expert name: {baby id: (T,) bool}} as returned by `parse_neonatal`.
    rule: "all" (every expert), "majority" (more than half) or "any" (at least one).
  Returns:
    {baby id: (T,) bool} for the babies every expert annotated.
  """
  if rule not in CONSENSUS_RULES:
    raise DataError(f"consensus rule {rule!r}; expected one of {CONSENSUS_RULES}")
  names = sorted(experts)
  babies = sorted(set.intersection(*(set(experts[n]) for n in names)), key=_id_key)
  combined = {}
  for baby in babies:
    lengths = {n: experts[n][baby].size for n in names}
    if len(set(lengths.values())) != 1:
      raise DataError(f"baby {baby}: experts annotated different lengths {lengths} (seconds); "
                      "the annotation files disagree")
    votes = np.sum([experts[n][baby] for n in names], axis=0)
    needed = {"all": len(names), "majority": len(names) // 2 + 1, "any": 1}[rule]
    combined[baby] = votes >= needed
  return combined


def _id_key(baby: str) -> tuple[int, str]:
  return (int(baby), baby) if baby.isdigit() else (1 << 30, baby)


# ----------------------------------------------------------------------------- Siena

_SIENA_FILE = re.compile(r"^\s*File\s*name\s*:\s*(\S+)", re.IGNORECASE)
# `Registration start time: 19.39.33`, `Seizure start time: 19.58.36`, `Start time: 21:51:02`, `End time: ...`.
_SIENA_TIME = re.compile(r"^\s*(registration\s+)?(?:seizure\s+)?(start|end)\s*time\s*:\s*(.*?)\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2})[.:](\d{2})[.:](\d{2})")
_DAY_S = 24 * 3600
# Typos of the published lists, corrected as epilepsy2bids corrects them: (file, line as written) -> line.
# PN00-3's seizure would otherwise last an hour and end after the recording; PN10's start has a stray space.
_SIENA_ERRATA = {
    ("PN00-3.edf", "Seizure end time: 19.29.29"): "Seizure end time: 18.29.29",
    ("PN10-7.8.9.edf", "Registration start time:1 6.49.25"): "Registration start time:16.49.25",
}


@dataclasses.dataclass
class SienaFile:
  """What a `Seizures-list-PNxx.txt` says of one EDF: clock times in seconds after midnight.

  Attributes:
    registration_start_s, registration_end_s: when the file's recording starts and ends (None if not listed).
    seizures: (start, end) clock times of its seizures.
  """
  registration_start_s: float | None = None
  registration_end_s: float | None = None
  seizures: list[tuple[float, float]] = dataclasses.field(default_factory=list)

  def events(self, start_s: float | None, label: str = "seizure") -> tuple[Event, ...]:
    """Seizure events in seconds from the recording start `start_s` (clock time; default: the registration
    start); a clock time before it is on the next day (recordings cross midnight)."""
    start_s = self.registration_start_s if start_s is None else start_s
    if start_s is None:
      raise DataError("no recording start: neither the EDF header nor the seizure list gives one")
    return tuple(Event((a - start_s) % _DAY_S, (a - start_s) % _DAY_S + (b - a) % _DAY_S, label)
                 for a, b in self.seizures)


def siena_edf_name(listed: str) -> str:
  """The EDF a Siena list names: its typos fixed (`PNO6-1.edf` -> `PN06-1.edf`, `PN01.edf` and `PN11-.edf` ->
  `PNxx-1.edf`, the file of a patient's first recording)."""
  name = re.sub(r"^PNO", "PN0", listed.strip(), flags=re.IGNORECASE)
  return re.sub(r"^(PN\d\d)-?\.edf$", r"\1-1.edf", name, flags=re.IGNORECASE)


def _clock_s(path: Path, number: int, text: str) -> float:
  match = _CLOCK.fullmatch(text)
  if match is None:
    raise DataError(f"{path}:{number}: time {text!r}; expected hh.mm.ss")
  hours, minutes, seconds = (int(g) for g in match.groups())
  if hours > 23 or minutes > 59 or seconds > 59:
    raise DataError(f"{path}:{number}: time {text!r} is not a clock time")
  return float(hours * 3600 + minutes * 60 + seconds)


def parse_siena_list(path: str | Path) -> dict[str, SienaFile]:
  """`Seizures-list-PNxx.txt` -> {EDF file name: SienaFile}, in file order.

  Blocks start at `File name:`; `Registration start/end time:` and
  `(Seizure) start/end time:` lines follow, `.` or `:` separated. A file named
  again in a later block (one block per seizure) adds its seizures to the
  first; a seizure line without a registration start in its block keeps the
  file's earlier one. The header (sampling rate, channel list) is ignored.

  Raises:
    DataError: naming the file and line, for a time line before any file, an
      unparseable time, an end without a start or a start without an end.
  """
  path = Path(path)
  files: dict[str, SienaFile] = {}
  current, pending = None, None
  for number, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
    if match := _SIENA_FILE.match(raw):
      _check_closed(path, current, pending)
      current, pending = siena_edf_name(match.group(1)), None
      files.setdefault(current, SienaFile())
      continue
    if current is not None:
      raw = _SIENA_ERRATA.get((current, raw.strip()), raw)
    if not (match := _SIENA_TIME.match(raw)):
      continue
    if current is None:
      raise DataError(f"{path}:{number}: {raw.strip()!r} before any 'File name:' line")
    registration, kind, seconds = match.group(1), match.group(2).lower(), _clock_s(path, number, match.group(3))
    entry = files[current]
    if registration:
      setattr(entry, f"registration_{kind}_s", seconds)
    elif kind == "start":
      _check_closed(path, current, pending)
      pending = (number, seconds)
    elif pending is None:
      raise DataError(f"{path}:{number}: a seizure end time without a start time ({current})")
    else:
      entry.seizures.append((pending[1], seconds))
      pending = None
  _check_closed(path, current, pending)
  return files


def _check_closed(path: Path, current: str | None, pending: tuple[int, float] | None) -> None:
  if pending is not None:
    raise DataError(f"{path}:{pending[0]}: a seizure start time without an end time ({current})")


# ----------------------------------------------------------------------------- BIDS / SzCORE events.tsv

SZCORE_REQUIRED = ("onset", "duration", "eventType")


def parse_szcore_tsv(path: str | Path, label: str = "seizure") -> Annotation:
  """A BIDS `*_events.tsv` in SzCORE's format (epilepsy2bids) -> seizure events and the recording's duration.

  Columns onset, duration (s), eventType are needed; confidence, channels and
  dateTime may hold anything (`n/a`); recordingDuration, when present, is the
  annotated extent. Rows whose eventType starts with `sz` are seizures,
  labelled `label`; `bckg` rows are background; any other type is kept with
  its raw text (preprocessing drops the windows it touches).

  Raises:
    DataError: naming the file and line, for a missing column or a non-numeric, empty or negative interval.
  """
  path = Path(path)
  with open(path, newline="", errors="replace") as handle:
    reader = csv.DictReader(handle, delimiter="\t")
    missing = [c for c in SZCORE_REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
      raise DataError(f"{path}: not an SzCORE events.tsv: missing column(s) {missing}; header {reader.fieldnames}")
    events, extent = [], 0.0
    for number, row in enumerate(reader, start=2):
      extent = max(extent, _optional_number(row.get("recordingDuration")))
      event_type = (row["eventType"] or "").strip()
      if event_type == BACKGROUND:
        continue
      onset, duration = (row[c] for c in ("onset", "duration"))
      start, end = _interval_numbers(path, number, onset, duration)
      events.append(Event(start, end, label if event_type.startswith("sz") else event_type))
  return Annotation(tuple(sorted(events, key=lambda e: (e.start_s, e.label))), extent)


def _optional_number(text: str | None) -> float:
  """A finite number, or 0 for `n/a`, an empty cell or an absent column."""
  try:
    value = float(text)
  except (TypeError, ValueError):
    return 0.0
  return value if np.isfinite(value) else 0.0


def _interval_numbers(path: Path, number: int, onset: str, duration: str) -> tuple[float, float]:
  try:
    start, length = float(onset), float(duration)
  except (TypeError, ValueError):
    raise DataError(f"{path}:{number}: onset {onset!r} / duration {duration!r} are not numbers") from None
  _check_interval(path, f"line {number}", start, start + length)
  return start, start + length
