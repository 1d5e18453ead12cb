#!/usr/bin/env python
"""Score a folder of detections against a folder of references, SzCORE's way.

  python scripts/score.py --ref bids/chbmit --hyp predictions/chbmit --out scores/chbmit

Both folders are in BIDS layout (`sub-*/ses-*/eeg/*_events.tsv`, e.g. the
references epilepsy2bids writes and the TSVs `python -m jclip_eeg.szcore` or
scripts/detect.py write); files are paired by relative path. Each recording
gets SzCORE event and sample scores (timescoring), each subject the scores of
its summed counts, and the dataset the mean ± std over subjects, as SzCORE
averages them (jclip_eeg/eval/scoring.py). Writes scores.md, scores.json,
scores_per_recording.csv and scores_per_subject.csv into --out and prints the
markdown. Exit codes: jclip_eeg/cli.py (2 bad input).
"""

from __future__ import annotations

import logging

from absl import flags

from jclip_eeg import cli
from jclip_eeg.eval import scoring

_REF = flags.DEFINE_string("ref", None, "Reference folder (BIDS layout, sub-*/**/*_events.tsv).")
_HYP = flags.DEFINE_string("hyp", None, "Hypothesis folder, the same layout and file names.")
_OUT = flags.DEFINE_string("out", None, "Folder for scores.md, scores.json and the two CSV tables.")
_TOLERANCE_S = flags.DEFINE_float("duration_tolerance_s", 0.0, "Largest recordingDuration difference (s) "
                                  "between a hypothesis and its reference that is padded or cut, not an error.")
flags.mark_flags_as_required(["ref", "hyp", "out"])

_log = logging.getLogger("jclip_eeg.score")


def main(argv: list[str]) -> None:
  scores = scoring.score_folders(_REF.value, _HYP.value, duration_tolerance_s=_TOLERANCE_S.value)
  missing = [s.recording for s in scores if s.hypothesis_missing]
  if missing:
    _log.warning("%d reference recording(s) have no hypothesis and count as no detection, e.g. %s",
                 len(missing), missing[0])
  unmatched = scoring.unmatched_hypotheses(_REF.value, _HYP.value)
  if unmatched:
    _log.warning("%d hypothesis file(s) have no reference and are not scored, e.g. %s", len(unmatched),
                 unmatched[0])
  summary = scoring.summarise(scores)
  written = scoring.write_report(summary, _OUT.value)
  print(scoring.markdown(summary))
  cli.closing(f"wrote {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
  cli.run(main, "score")
