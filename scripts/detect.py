#!/usr/bin/env python
"""Detect seizures in a raw EDF recording: SzCORE events.tsv, annotations for MNE and EDFbrowser, a picture.

  python scripts/detect.py --model runs/demo/student --edf rec.edf --out rec_events.tsv --plot rec.png
  python scripts/detect.py --model student.jaxexport --edf chb01_03.edf --out out/chb01_03_events.tsv \\
      --annotations chb01-summary.txt

--model is a finished stage directory (W/student, W/teacher; it may be copied
anywhere on its own) or an artefact of scripts/export.py. The recording is
preprocessed exactly as in training, streamed in blocks
(jclip_eeg/eval/detection.py). The post-processing is the model's own (tuned
on its validation recordings when the stage finished, carried by the
artefact) unless a flag overrides it.

Besides --out (`X_events.tsv`, the SzCORE format) it writes beside it
`X_annotations.txt` (MNE: `raw.set_annotations(mne.read_annotations(path))`)
and `X_edfbrowser.xml` (EDFbrowser: File -> Import annotations/events);
--plot draws the EEG around each detection over the smoothed probability
(jclip_eeg/eval/review.py). --annotations (a CHB-MIT summary, a TUSZ
.csv/.csv_bi/.tse/.tse_bi, one expert's Helsinki annotations_2017_X.csv for
eegN.edf, or a reference events.tsv such as epilepsy2bids writes) is read and
checked against the EDF before detection starts; SzCORE event- and
sample-level scores are then printed and written to `X_scores.json`.
Exit codes: jclip_eeg/cli.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from absl import flags

from jclip_eeg import cli
from jclip_eeg.data import edf
from jclip_eeg.eval import detection, events, review

_MODEL = flags.DEFINE_string("model", None, "A finished stage directory (e.g. runs/demo/student) or an exported "
                             ".jaxexport artefact.")
_EDF = flags.DEFINE_string("edf", None, "The EDF recording to scan (any length; read in blocks).")
_OUT = flags.DEFINE_string("out", None, "The SzCORE events.tsv to write (sidecars go beside it).")
_PLOT = flags.DEFINE_string("plot", None, "Also draw the detections (EEG around each, probability, threshold, "
                            "reference) into this PNG.")
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


def _write_annotations(out: Path, found: detection.Detection) -> list[Path]:
  """The MNE and (with a known EDF start) EDFbrowser annotation files beside `out`."""
  written = [events.sidecar(out, "annotations.txt")]
  review.write_mne_annotations(written[0], found.events)
  if found.start is not None:
    written.append(events.sidecar(out, "edfbrowser.xml"))
    review.write_edfbrowser_xml(written[1], found.events, found.start)
  return written


def main(argv: list[str]) -> None:
  edf_path, out = Path(_EDF.value), cli.check_output(_OUT.value, flag="--out")
  for suffix in ("annotations.txt", "edfbrowser.xml", "scores.json"):
    cli.check_output(events.sidecar(out, suffix), flag=f"--out (its {suffix})")
  if _PLOT.value:
    cli.check_output(_PLOT.value, flag="--plot")
  _settings(events.PostProcessing())  # the post-processing flags are checked before any work
  reference = None
  if _ANNOTATIONS.value is not None:
    reference = events.reference_intervals(_ANNOTATIONS.value, edf_path, edf.read_header(edf_path).duration_s)
  predictor = detection.load_predictor(_MODEL.value)
  if _DATASET.value:
    predictor = detection.Predictor(predictor.predict, dict(predictor.metadata, dataset=_DATASET.value))
  settings = _settings(detection.settings_of(predictor.metadata))
  found = detection.detect(predictor, edf_path, settings, stride_s=_STRIDE_S.value, block_s=_BLOCK_S.value,
                           progress=True)
  events.write_tsv(out, found.events, found.duration_s, found.start)
  written = [out, *_write_annotations(out, found)]
  if reference is not None:
    scores = events.score(reference, [(e.onset, e.end) for e in found.events], found.duration_s)
    written.append(events.sidecar(out, "scores.json"))
    written[-1].write_text(json.dumps(scores, indent=2))
    print(json.dumps(scores, indent=2))
  if _PLOT.value:
    written.append(review.plot_detection(_PLOT.value, found, edf_path.name, reference))
  cli.closing(f"{len(found.events)} seizure event(s) in {found.duration_s:.0f} s of {edf_path.name} "
              f"(threshold {settings.threshold:g}, smoothing {settings.smooth_s:g} s, minimum "
              f"{settings.min_duration_s:g} s, merge gap {settings.merge_gap_s:g} s); "
              f"wrote {', '.join(map(str, written))}")


if __name__ == "__main__":
  cli.run(main, "detect")
