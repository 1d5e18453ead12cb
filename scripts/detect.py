#!/usr/bin/env python
"""Detect seizures in a raw EDF recording and write SzCORE events.tsv (+ scores with --annotations).

  python scripts/detect.py --checkpoint runs/demo/student --edf rec.edf --out rec_events.tsv
  python scripts/detect.py --checkpoint model.jaxexport --edf chb01_03.edf --out out/chb01_03_events.tsv \\
      --annotations chb01-summary.txt

--checkpoint is a finished stage directory (W/student, W/teacher) or an artefact
of scripts/export.py. The recording is preprocessed exactly as in training,
streamed in blocks (jclip_eeg/eval/detection.py). --annotations (a CHB-MIT
summary, a TUSZ .csv/.csv_bi/.tse/.tse_bi, one expert's Helsinki
annotations_2017_X.csv for eegN.edf, or a reference events.tsv) adds SzCORE
event- and sample-level scores, printed and written to <out>.json.
Errors in the input print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jclip_eeg import cli
from jclip_eeg.data.annotations import parse_chbmit_summary, parse_tse, parse_tusz_csv
from jclip_eeg.data.datasets import neonatal
from jclip_eeg.errors import DataError
from jclip_eeg.eval import detection, events


def reference_intervals(path: Path, edf_path: Path) -> list[tuple[float, float]]:
  """Seizure (start s, end s) of `edf_path` from an annotation file (see the module docstring)."""
  if path.name.endswith("-summary.txt"):
    listed = parse_chbmit_summary(path)
    if edf_path.name not in listed:
      raise DataError(f"{path}: does not list {edf_path.name}")
    found = listed[edf_path.name]
  elif path.name.startswith("annotations_2017_") and path.suffix == ".csv":
    found = neonatal.baby_events(path, edf_path)
  elif path.suffix in (".csv", ".csv_bi"):
    found = parse_tusz_csv(path).events
  elif path.suffix in (".tse", ".tse_bi"):
    found = parse_tse(path).events
  elif path.suffix == ".tsv":
    return [(e.onset, e.end) for e in events.read_tsv(path)[0]]
  else:
    raise DataError(f"{path}: unknown annotation format; expected chbNN-summary.txt, .csv, .csv_bi, .tse, "
                    ".tse_bi, annotations_2017_X.csv or an events.tsv")
  return [(e.start_s, e.end_s) for e in found if e.label not in ("bckg", "background", "normal")]


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--checkpoint", required=True, type=Path, help="stage directory or .jaxexport artefact")
  parser.add_argument("--edf", required=True, type=Path)
  parser.add_argument("--out", required=True, type=Path, help="events.tsv to write")
  parser.add_argument("--dataset", default=None, help="montage to read (default: the model's dataset)")
  parser.add_argument("--annotations", type=Path, default=None)
  defaults = events.PostProcessing()
  parser.add_argument("--threshold", type=float, default=defaults.threshold)
  parser.add_argument("--smooth-s", type=float, default=defaults.smooth_s)
  parser.add_argument("--min-duration-s", type=float, default=defaults.min_duration_s)
  parser.add_argument("--merge-gap-s", type=float, default=defaults.merge_gap_s)
  parser.add_argument("--stride-s", type=float, default=1.0)
  parser.add_argument("--block-s", type=float, default=600.0, help="seconds of EEG read at once")
  args = parser.parse_args(argv)
  try:
    settings = events.PostProcessing(args.threshold, args.smooth_s, args.min_duration_s, args.merge_gap_s)
    predictor = detection.load_predictor(args.checkpoint)
    if args.dataset:
      predictor = detection.Predictor(predictor.predict, dict(predictor.metadata, dataset=args.dataset))
    found = detection.detect(predictor, args.edf, settings, stride_s=args.stride_s, block_s=args.block_s,
                             progress=True)
    events.write_tsv(args.out, found.events, found.duration_s, found.date_time)
    print(f"{len(found.events)} seizure event(s) in {found.duration_s:.0f} s -> {args.out}")
    if args.annotations:
      scores = events.score(reference_intervals(args.annotations, args.edf),
                            [(e.onset, e.end) for e in found.events], found.duration_s)
      args.out.with_suffix(".json").write_text(json.dumps(scores, indent=2))
      print(json.dumps(scores, indent=2))
  except cli.ERRORS as error:
    return cli.fail("detect", error)
  return 0


if __name__ == "__main__":
  sys.exit(main())
