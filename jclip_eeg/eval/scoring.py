"""Dataset-level SzCORE scoring: per recording, summed per subject, averaged over subjects.

`score_folders(ref, hyp)` pairs the events.tsv files of two BIDS-layout folders
(`sub-*/**/*_events.tsv`, matched by relative path) and scores each recording
with timescoring's event and sample scoring (`events.score_masks`: 1-Hz masks
as SzCORE's evaluation builds them). `summarise` then does what SzCORE's
`evaluate_dataset` does: each subject's true positives, false positives,
reference events and duration are summed over its recordings, the subject's
sensitivity, precision, F1 and false alarms per 24 h computed from the sums
(timescoring's formulas), and the dataset's score is the mean (and standard
deviation) over subjects, ignoring subjects where a score is undefined (NaN:
e.g. sensitivity without seizures). The pooled scores (all recordings summed,
SzCORE's `avg_per_subject=False`) are reported beside.

Differences from SzCORE's evaluator, both louder rather than different
numbers: a hypothesis whose recording duration differs from the reference's
by more than `duration_tolerance_s` is an error naming both files (SzCORE
scores it as empty), and a missing hypothesis is scored as empty (as SzCORE
does) but listed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jclip_eeg import jsonio
from jclip_eeg.errors import DataError
from jclip_eeg.eval import events

METRICS = ("sensitivity", "precision", "f1", "false_alarms_per_24h")
LEVELS = ("event", "sample")


@dataclasses.dataclass(frozen=True)
class Counts:
  """What SzCORE sums over recordings: true/false positives, reference events (or samples), seconds scored."""
  true_positives: int = 0
  false_positives: int = 0
  reference: int = 0
  seconds: float = 0.0

  @classmethod
  def of(cls, result: Any) -> Counts:
    """The counts of a timescoring `EventScoring` / `SampleScoring`."""
    return cls(int(result.tp), int(result.fp), int(result.refTrue), result.numSamples / result.fs)

  def __add__(self, other: Counts) -> Counts:
    return Counts(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                  self.reference + other.reference, self.seconds + other.seconds)

  def scores(self) -> dict[str, float]:
    """timescoring's `computeScores` on these counts; NaN where undefined."""
    tp, fp, ref = self.true_positives, self.false_positives, self.reference
    return {"sensitivity": tp / ref if ref else math.nan,
            "precision": tp / (tp + fp) if tp + fp else math.nan,
            "f1": 2 * tp / (2 * tp + fp + (ref - tp)) if ref + fp else math.nan,
            "false_alarms_per_24h": fp / (self.seconds / 86400) if self.seconds else math.nan}


@dataclasses.dataclass(frozen=True)
class RecordingScore:
  """One recording's counts at both levels; `recording` is its path relative to the reference folder."""
  subject: str
  recording: str
  event: Counts
  sample: Counts
  hypothesis_missing: bool = False

  @property
  def duration_s(self) -> float:
    return self.sample.seconds


def score_recording(subject: str, recording: str, reference: Sequence[tuple[float, float]],
                    hypothesis: Sequence[tuple[float, float]], duration_s: float) -> RecordingScore:
  """Counts of one recording's (start s, end s) intervals, SzCORE's way."""
  event, sample = events.score_masks(events.mask(reference, duration_s), events.mask(hypothesis, duration_s))
  return RecordingScore(subject, recording, Counts.of(event), Counts.of(sample))


def _fit_duration(hyp_path: Path, ref_path: Path, hyp_s: float, ref_s: float, tolerance_s: float) -> None:
  if int(hyp_s * events.SCORING_HZ) != int(ref_s * events.SCORING_HZ) and abs(hyp_s - ref_s) > tolerance_s:
    raise DataError(f"{hyp_path}: recordingDuration {hyp_s:g} s, but the reference {ref_path} says {ref_s:g} s "
                    f"(more than --duration_tolerance_s={tolerance_s:g} apart): not the same recording?")


def score_folders(reference_dir: str | Path, hypothesis_dir: str | Path, *,
                  duration_tolerance_s: float = 0.0) -> list[RecordingScore]:
  """Every reference `sub-*/**/*_events.tsv` scored against the same relative path under `hypothesis_dir`.

  A hypothesis within `duration_tolerance_s` of the reference's duration is
  scored over the reference's duration (padded with background or cut, as
  SzCORE does); a missing one is scored as no detection.

  Raises:
    DataError: a folder is missing or holds no reference events.tsv, a file
      does not parse (`events.read_tsv`), or the durations disagree.
  """
  reference_dir, hypothesis_dir = Path(reference_dir), Path(hypothesis_dir)
  for folder in (reference_dir, hypothesis_dir):
    if not folder.is_dir():
      raise DataError(f"{folder}: no such folder")
  references = sorted(reference_dir.glob("sub-*/**/*_events.tsv"))
  if not references:
    raise DataError(f"{reference_dir}: no sub-*/**/*_events.tsv files (expected a BIDS-layout folder)")
  scores = []
  for ref_path in references:
    relative = ref_path.relative_to(reference_dir)
    ref_events, duration_s = events.read_tsv(ref_path)
    hyp_path = hypothesis_dir / relative
    hyp_intervals: list[tuple[float, float]] = []
    if hyp_path.is_file():
      hyp_events, hyp_s = events.read_tsv(hyp_path)
      _fit_duration(hyp_path, ref_path, hyp_s, duration_s, duration_tolerance_s)
      hyp_intervals = [(e.onset, e.end) for e in hyp_events]
    score = score_recording(relative.parts[0], relative.as_posix(), [(e.onset, e.end) for e in ref_events],
                            hyp_intervals, duration_s)
    scores.append(dataclasses.replace(score, hypothesis_missing=not hyp_path.is_file()))
  return scores


def unmatched_hypotheses(reference_dir: str | Path, hypothesis_dir: str | Path) -> list[str]:
  """Hypothesis events.tsv paths (relative) with no reference: not scored."""
  reference_dir, hypothesis_dir = Path(reference_dir), Path(hypothesis_dir)
  return sorted(p.relative_to(hypothesis_dir).as_posix() for p in hypothesis_dir.glob("sub-*/**/*_events.tsv")
                if not (reference_dir / p.relative_to(hypothesis_dir)).is_file())


# ----------------------------------------------------------------------------- aggregation


def per_subject(scores: Iterable[RecordingScore]) -> dict[str, dict[str, Counts]]:
  """subject -> level -> its recordings' summed counts (sorted by subject)."""
  sums: dict[str, dict[str, Counts]] = {}
  for s in scores:
    level_sums = sums.setdefault(s.subject, {level: Counts() for level in LEVELS})
    for level in LEVELS:
      level_sums[level] = level_sums[level] + getattr(s, level)
  return dict(sorted(sums.items()))


def _finite(value: float) -> float | None:
  return None if value is None or not math.isfinite(value) else float(value)


def _mean_over_subjects(subjects: Mapping[str, Mapping[str, Counts]], level: str) -> dict[str, float | None]:
  values = {m: np.array([c[level].scores()[m] for c in subjects.values()], dtype=float) for m in METRICS}
  out: dict[str, float | None] = {}
  for metric, column in values.items():
    finite = column[np.isfinite(column)]
    out[metric] = _finite(finite.mean()) if finite.size else None
    out[f"{metric}_std"] = _finite(finite.std()) if finite.size else None
  return out


def summarise(scores: Sequence[RecordingScore]) -> dict[str, Any]:
  """The JSON report: `dataset` (mean and std over subjects, SzCORE's number), `pooled`, `subjects`, `recordings`."""
  subjects = per_subject(scores)
  pooled = {level: sum((getattr(s, level) for s in scores), Counts()) for level in LEVELS}
  return {
      "dataset": {level: _mean_over_subjects(subjects, level) for level in LEVELS},
      "pooled": {level: _json_scores(pooled[level]) for level in LEVELS},
      "subjects": {name: {level: _json_scores(c[level]) for level in LEVELS} for name, c in subjects.items()},
      "recordings": [{"subject": s.subject, "recording": s.recording, "duration_s": s.duration_s,
                      "hypothesis_missing": s.hypothesis_missing,
                      **{level: _json_scores(getattr(s, level)) for level in LEVELS}} for s in scores],
      "n_subjects": len(subjects), "n_recordings": len(scores),
      "hours": round(sum(s.duration_s for s in scores) / 3600, 4),
  }


def _json_scores(counts: Counts) -> dict[str, Any]:
  return {**{k: _finite(v) for k, v in counts.scores().items()}, **dataclasses.asdict(counts)}


# ----------------------------------------------------------------------------- report files


def _cell(value: Any) -> str:
  if value is None:
    return "n/a"
  return f"{value:.4f}" if isinstance(value, float) else str(value)


def _rows(summary: Mapping[str, Any], kind: str) -> tuple[list[str], list[list[str]]]:
  """Header and rows of the per-recording or per-subject table."""
  metrics = [f"{level}_{m}" for level in LEVELS for m in METRICS]
  counts = [f"{level}_{c}" for level in LEVELS for c in ("true_positives", "false_positives", "reference")]
  if kind == "recordings":
    header = ["subject", "recording", "duration_s", *metrics, *counts, "hypothesis_missing"]
    items = [(r, [r["subject"], r["recording"], r["duration_s"]], [r["hypothesis_missing"]])
             for r in summary["recordings"]]
  else:
    header = ["subject", *metrics, *counts]
    items = [(s, [name], []) for name, s in summary["subjects"].items()]
  rows = []
  for record, first, last in items:
    values = [record[name.split("_", 1)[0]][name.split("_", 1)[1]] for name in metrics + counts]
    rows.append([_cell(v) for v in (*first, *values, *last)])
  return header, rows


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  return text.getvalue()


def markdown(summary: Mapping[str, Any]) -> str:
  """The report as markdown: the dataset scores (mean ± std over subjects), pooled, then per subject."""
  lines = [f"SzCORE scores: {summary['n_recordings']} recordings of {summary['n_subjects']} subjects, "
           f"{summary['hours']:g} h", "",
           "| level | sensitivity | precision | F1 | false alarms / 24 h |", "|---|---|---|---|---|"]
  for level in LEVELS:
    mean = summary["dataset"][level]
    lines.append(f"| {level} (mean ± std over subjects) | " + " | ".join(
        f"{_cell(mean[m])} ± {_cell(mean[m + '_std'])}" for m in METRICS) + " |")
  for level in LEVELS:
    lines.append(f"| {level} (pooled) | " + " | ".join(_cell(summary["pooled"][level][m]) for m in METRICS) + " |")
  header, rows = _rows(summary, "subjects")
  lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def write_report(summary: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
  """scores.json, scores.md, scores_per_recording.csv and scores_per_subject.csv in `out_dir`."""
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  written = [out_dir / name for name in ("scores.json", "scores.md", "scores_per_recording.csv",
                                         "scores_per_subject.csv")]
  jsonio.write_json(written[0], summary)
  written[1].write_text(markdown(summary))
  written[2].write_text(_csv(*_rows(summary, "recordings")))
  written[3].write_text(_csv(*_rows(summary, "subjects")))
  return written
