"""Dataset-level SzCORE scoring of BIDS-layout folders equals timescoring run by hand, SzCORE's way.

The references are written by epilepsy2bids (`Annotations.saveTsv`, as its
converters do), the hypotheses by our writer; the expected numbers are
computed here the way SzCORE's `evaluate_dataset` does: epilepsy2bids's 1-Hz
masks, timescoring per recording, counts summed per subject, scores averaged
over subjects with NaNs ignored.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from epilepsy2bids.annotations import Annotation as E2bEvent, Annotations, EventType
from timescoring import scoring as ts
from timescoring.annotations import Annotation

from jclip_eeg.errors import DataError
from jclip_eeg.eval import events, scoring
from jclip_eeg.eval.events import DetectedEvent

REPO = Path(__file__).resolve().parents[2]
START = datetime.datetime(2076, 11, 6, 11, 42, 54)
_RUN = "sub-{s}/ses-01/eeg/sub-{s}_ses-01_task-szMonitoring_run-{r}_events.tsv"
# (subject, run) -> (duration s, reference seizures, hypothesis seizures or None for a missing file)
CASES = {
    ("01", "00"): (3600.0, [(100.0, 160.0), (1000.5, 1030.0)], [(110.0, 150.0), (2000.0, 2030.0)]),
    ("01", "01"): (1800.0, [], [(300.0, 320.0)]),
    ("02", "00"): (3600.0, [(500.0, 900.0)], [(480.0, 560.0), (700.0, 720.0), (3000.0, 3050.0)]),
    ("02", "01"): (1200.0, [(60.0, 75.0)], None),
}


def _write_reference(path: Path, seizures: list[tuple[float, float]], duration_s: float) -> None:
  annotations = Annotations()
  for onset, end in seizures or [(0.0, duration_s)]:
    annotations.events.append(E2bEvent(onset=onset, duration=end - onset,
                                       eventType=EventType.sz if seizures else EventType.bckg,
                                       confidence="n/a", channels="n/a", dateTime=START, recordingDuration=duration_s))
  path.parent.mkdir(parents=True, exist_ok=True)
  annotations.saveTsv(str(path))


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
  root = tmp_path_factory.mktemp("bids")
  for (subject, run), (duration_s, reference, hypothesis) in CASES.items():
    relative = _RUN.format(s=subject, r=run)
    _write_reference(root / "ref" / relative, reference, duration_s)
    if hypothesis is not None:
      events.write_tsv(root / "hyp" / relative, [DetectedEvent(a, b - a, 0.9) for a, b in hypothesis], duration_s,
                       START)
  (root / "hyp" / _RUN.format(s="03", r="00")).parent.mkdir(parents=True)
  events.write_tsv(root / "hyp" / _RUN.format(s="03", r="00"), [], 60.0, START)  # no reference: not scored
  return root / "ref", root / "hyp"


def _by_hand(ref_dir: Path, hyp_dir: Path) -> dict:
  """SzCORE's evaluate_dataset, spelled out on timescoring and epilepsy2bids."""
  sums = {}
  for ref_path in sorted(ref_dir.glob("sub-*/**/*_events.tsv")):
    subject = ref_path.relative_to(ref_dir).parts[0]
    ref = Annotation(Annotations.loadTsv(str(ref_path)).getMask(1).astype(bool), 1)
    hyp_path = hyp_dir / ref_path.relative_to(ref_dir)
    hyp_mask = Annotations.loadTsv(str(hyp_path)).getMask(1) if hyp_path.exists() else np.zeros(len(ref.mask))
    hyp = Annotation(hyp_mask.astype(bool), 1)
    for level, result in (("event", ts.EventScoring(ref, hyp)), ("sample", ts.SampleScoring(ref, hyp))):
      total = sums.setdefault(subject, {}).setdefault(level, np.zeros(4))
      total += [result.tp, result.fp, result.refTrue, result.numSamples / result.fs]
  expected = {}
  for level in ("event", "sample"):
    per_subject = []
    for subject in sorted(sums):
      tp, fp, ref_true, seconds = sums[subject][level]
      sensitivity = tp / ref_true if ref_true else np.nan
      precision = tp / (tp + fp) if tp + fp else np.nan
      f1 = 2 * tp / (2 * tp + fp + ref_true - tp) if ref_true + fp else np.nan
      per_subject.append([sensitivity, precision, f1, fp / (seconds / 86400)])
    per_subject = np.array(per_subject)
    expected[level] = {"mean": np.nanmean(per_subject, axis=0), "std": np.nanstd(per_subject, axis=0)}
  return expected


def _check_equal(summary: dict, expected: dict) -> None:
  for level, want in expected.items():
    got = summary["dataset"][level]
    for k, metric in enumerate(scoring.METRICS):
      assert got[metric] == pytest.approx(want["mean"][k], rel=1e-12), (level, metric)
      assert got[f"{metric}_std"] == pytest.approx(want["std"][k], rel=1e-12, abs=1e-12), (level, metric)


def test_summary_equals_szcore_by_hand(folders):
  ref_dir, hyp_dir = folders
  scores = scoring.score_folders(ref_dir, hyp_dir)
  assert [s.recording for s in scores if s.hypothesis_missing] == [_RUN.format(s="02", r="01")]
  summary = scoring.summarise(scores)
  _check_equal(summary, _by_hand(ref_dir, hyp_dir))
  assert summary["n_subjects"] == 2 and summary["n_recordings"] == 4
  # the recording sub-01 run-00 by hand: 1 of 2 seizures found, 1 false alarm in 1 h
  first = summary["recordings"][0]["event"]
  assert (first["true_positives"], first["false_positives"], first["reference"]) == (1, 1, 2)
  assert first["false_alarms_per_24h"] == pytest.approx(24.0)
  assert scoring.unmatched_hypotheses(ref_dir, hyp_dir) == [_RUN.format(s="03", r="00")]


def test_score_script_writes_markdown_csv_json(folders, tmp_path):
  ref_dir, hyp_dir = folders
  out = tmp_path / "scores"
  done = subprocess.run([sys.executable, str(REPO / "scripts" / "score.py"), "--ref", str(ref_dir), "--hyp",
                         str(hyp_dir), "--out", str(out)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  _check_equal(json.loads((out / "scores.json").read_text()), _by_hand(ref_dir, hyp_dir))
  assert "| event (mean ± std over subjects) |" in done.stdout and "have no hypothesis" in done.stderr
  recordings = (out / "scores_per_recording.csv").read_text().splitlines()
  assert len(recordings) == 5 and recordings[0].startswith("subject,recording,duration_s,event_sensitivity")
  assert len((out / "scores_per_subject.csv").read_text().splitlines()) == 3
  assert (out / "scores.md").read_text() in done.stdout


def test_duration_mismatch_is_an_error_unless_within_tolerance(folders, tmp_path):
  ref_dir, _ = folders
  hyp_dir = tmp_path / "hyp"
  for (subject, run), (duration_s, _, _) in CASES.items():
    events.write_tsv(hyp_dir / _RUN.format(s=subject, r=run), [], duration_s + 2.5, START)
  with pytest.raises(DataError, match="recordingDuration .* the reference .* says"):
    scoring.score_folders(ref_dir, hyp_dir)
  assert len(scoring.score_folders(ref_dir, hyp_dir, duration_tolerance_s=3.0)) == 4
  with pytest.raises(DataError, match="no sub-"):
    scoring.score_folders(tmp_path, hyp_dir)
