#!/usr/bin/env python
"""Detect seizures in a raw EDF recording and write SzCORE events.tsv (+ scores with --annotations).

  python scripts/detect.py --model runs/demo/student --edf rec.edf --out rec_events.tsv
  python scripts/detect.py --model student.jaxexport --edf chb01_03.edf --out out/chb01_03_events.tsv \\
      --annotations chb01-summary.txt

--model is a finished stage directory (W/student, W/teacher; it may be copied
anywhere on its own) or an artefact of scripts/export.py. The recording is
preprocessed exactly as in training, streamed in blocks
(jclip_eeg/eval/detection.py). The post-processing is the model's own (stored
with the stage, carried by the artefact) unless a flag overrides it.
--annotations (a CHB-MIT summary, a TUSZ .csv/.csv_bi/.tse/.tse_bi, one
expert's Helsinki annotations_2017_X.csv for eegN.edf, or a reference
events.tsv) is read and checked first, then SzCORE event- and sample-level
scores are printed and written to <out>.json. Exit codes: jclip_eeg/cli.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from absl import flags

from jclip_eeg import cli
from jclip_eeg.eval import detection, events

_MODEL = flags.DEFINE_string("model", None, "A finished stage directory (e.g. runs/demo/student) or an exported "
                             ".jaxexport artefact.")
_EDF = flags.DEFINE_string("edf", None, "The EDF recording to scan (any length; read in blocks).")
_OUT = flags.DEFINE_string("out", None, "The SzCORE events.tsv to write.")
_DATASET = flags.DEFINE_string("dataset", None, "Read the EDF with this dataset's channel montage "
                               "(default: the model's dataset).")
_ANNOTATIONS = flags.DEFINE_string("annotations", None, "Reference seizures to score against (see above).")
_THRESHOLD = flags.DEFINE_float("threshold", None, "Seizure probability threshold in (0, 1) (default: the model's).")
_SMOOTH_S = flags.DEFINE_float("smooth_s", None, "Moving-average width in seconds (default: the model's).")
_MIN_DURATION_S = flags.DEFINE_float("min_duration_s", None, "Shortest event kept, seconds (default: the model's).")
_MERGE_GAP_S = flags.DEFINE_float("merge_gap_s", None, "Events this many seconds apart or closer become one "
                                  "(default: the model's).")
_STRIDE_S = flags.DEFINE_float("stride_s", 1.0, "Seconds between window starts.")
_BLOCK_S = flags.DEFINE_float("block_s", 600.0, "Seconds of EEG read and filtered at once (bounds the memory).")
flags.mark_flags_as_required(["model", "edf", "out"])
for _name in ("stride_s", "block_s"):
  flags.register_validator(_name, lambda seconds: seconds > 0, message=f"--{_name} must be > 0 seconds")


def _settings(model: events.PostProcessing) -> events.PostProcessing:
  """The model's post-processing with the flags given on the command line."""
  given = {"threshold": _THRESHOLD.value, "smooth_s": _SMOOTH_S.value, "min_duration_s": _MIN_DURATION_S.value,
           "merge_gap_s": _MERGE_GAP_S.value}
  return dataclasses.replace(model, **{k: v for k, v in given.items() if v is not None})


def main(argv: list[str]) -> None:
  edf_path, out = Path(_EDF.value), cli.check_output(_OUT.value, flag="--out")
  _settings(events.PostProcessing())  # the post-processing flags are checked before any work
  reference = None if _ANNOTATIONS.value is None else events.reference_intervals(_ANNOTATIONS.value, edf_path)
  if reference is not None:
    cli.check_output(out.with_suffix(".json"), flag="--out (its scores .json)")
  predictor = detection.load_predictor(_MODEL.value)
  if _DATASET.value:
    predictor = detection.Predictor(predictor.predict, dict(predictor.metadata, dataset=_DATASET.value))
  settings = _settings(detection.settings_of(predictor.metadata))
  found = detection.detect(predictor, edf_path, settings, stride_s=_STRIDE_S.value, block_s=_BLOCK_S.value,
                           progress=True)
  events.write_tsv(out, found.events, found.duration_s, found.date_time)
  written = [str(out)]
  if reference is not None:
    scores = events.score(reference, [(e.onset, e.end) for e in found.events], found.duration_s)
    out.with_suffix(".json").write_text(json.dumps(scores, indent=2))
    print(json.dumps(scores, indent=2))
    written.append(str(out.with_suffix(".json")))
  cli.closing(f"{len(found.events)} seizure event(s) in {found.duration_s:.0f} s of {edf_path.name} "
              f"(threshold {settings.threshold:g}, smoothing {settings.smooth_s:g} s, minimum "
              f"{settings.min_duration_s:g} s, merge gap {settings.merge_gap_s:g} s); wrote {', '.join(written)}")


if __name__ == "__main__":
  cli.run(main, "detect")
