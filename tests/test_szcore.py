"""`python -m jclip_eeg.szcore INPUT.edf OUTPUT.tsv`: SzCORE's entry point on EDFs epilepsy2bids standardised.

Format checks use a tiny untrained exported model (tests/untrained_stage.py) on
the 19 10-20 electrodes, run on a Siena-like referential recording (512 Hz,
`EEG Fp1` labels, an ECG channel) that epilepsy2bids's own `Eeg.standardize`
turns into SzCORE's 256-Hz common-average EDF (`Fp1-Avg` ...): the TSV must
load with epilepsy2bids unchanged, its dateTime equal to the EDF start.

The issue's bar (a model trained on the synthetic demo data in the banana18
montage, run on epilepsy2bids's double-banana files, scored with score.py and
detect.py --annotations against epilepsy2bids-written references) is
`test_banana18_model_scores_through_szcore`.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from epilepsy2bids.annotations import Annotations
from epilepsy2bids.eeg import Eeg
from steps_helpers import fast_compile, write_tiny_bert
from toy_run import learning_config
from untrained_stage import stage_config, write_stage

from jclip_eeg import export, szcore
from jclip_eeg.data import edf, synthetic
from jclip_eeg.eval import detection, events

REPO = Path(__file__).resolve().parents[1]
START = datetime.datetime(2010, 11, 6, 11, 42, 54)
# EDF years 70-84 are 20xx (EDF spec; CHB-MIT's chb01 is 2076).
START_70_84 = datetime.datetime(2076, 11, 6, 11, 42, 54)
_ENV = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
_SIENA_LABELS = [f"EEG {e}" for e in ("Fp1", "F3", "C3", "P3", "O1", "F7", "T3", "T5", "Fc1", "Fc5", "Cp1", "Cp5",
                                      "F9", "Fz", "Cz", "Pz", "Fp2", "F4", "C4", "P4", "O2", "F8", "T4", "T6",
                                      "Fc2", "Fc6", "Cp2", "Cp6", "F10")] + ["EKG EKG"]


def _standardised(folder: Path, reference: str, start: datetime.datetime = START) -> Path:
  """A 120-s referential 512-Hz recording starting at `start`, standardised by epilepsy2bids to 256 Hz and
  `reference` ("Avg" or "bipolar"), saved by epilepsy2bids."""
  raw = folder / f"PN00-{start.year}.edf"
  if not raw.is_file():
    rng = np.random.default_rng(0)
    edf.write_edf(raw, rng.normal(0, 20, (len(_SIENA_LABELS), 120 * 512)), 512.0, _SIENA_LABELS, start=start)
  eeg = Eeg.loadEdf(str(raw), Eeg.Montage.UNIPOLAR, Eeg.ELECTRODES_10_20)
  eeg.standardize(256, Eeg.ELECTRODES_10_20, reference)
  out = folder / f"sub-00_ses-01_task-szMonitoring_run-{start.year}_{reference}_eeg.edf"
  eeg.saveEdf(str(out))
  return out


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
  folder = tmp_path_factory.mktemp("szcore_edf")
  return {"average19": _standardised(folder, "Avg"), "banana18": _standardised(folder, "bipolar")}


@pytest.fixture(scope="module")
def artefact(tmp_path_factory) -> Path:
  """An untrained tiny teacher on the 19 10-20 electrodes (neonatal montage), exported."""
  tmp = tmp_path_factory.mktemp("szcore_model")
  with fast_compile():
    write_stage(tmp / "teacher", stage_config("neonatal", "teacher", write_tiny_bert(tmp / "bert")))
    export.export_stage(tmp / "teacher", tmp / "model.jaxexport")
  return tmp / "model.jaxexport"


def test_epilepsy2bids_wrote_szcore_montages(recordings):
  with pyedflib.EdfReader(str(recordings["average19"])) as f:
    assert f.getSignalLabels()[:3] == ["Fp1-Avg", "F3-Avg", "C3-Avg"] and f.getSampleFrequency(0) == 256
  with pyedflib.EdfReader(str(recordings["banana18"])) as f:
    assert f.getSignalLabels() == list(Eeg.BIPOLAR_DBANANA)


@pytest.mark.parametrize("start", [START, START_70_84])
def test_szcore_command_writes_a_tsv_epilepsy2bids_loads(artefact, tmp_path, start):
  """SzCORE's own command line, in a fresh process; the output file exists beforehand, as SzCORE's runner makes it."""
  edf_path, out = _standardised(tmp_path, "Avg", start), tmp_path / "out" / "tmp.tsv"
  out.parent.mkdir()
  out.touch()
  started = time.perf_counter()
  done = subprocess.run([sys.executable, "-m", "jclip_eeg.szcore", str(edf_path), str(out), "--model", str(artefact)],
                        env=_ENV, capture_output=True, text=True, timeout=300)
  print(f"python -m jclip_eeg.szcore on a 120-s recording: {time.perf_counter() - started:.1f} s")
  assert done.returncode == 0, done.stderr[-3000:]
  assert "seizure event(s) in 120 s" in done.stderr
  with pyedflib.EdfReader(str(edf_path)) as f:
    edf_start, duration_s = f.getStartdatetime(), f.getFileDuration()
  loaded = Annotations.loadTsv(str(out))
  assert loaded.events and all(e["dateTime"] == edf_start == start for e in loaded.events)
  assert all(e["recordingDuration"] == duration_s == 120 for e in loaded.events)
  assert len(loaded.getMask(1)) == 120
  detected, duration = events.read_tsv(out)
  assert duration == 120.0 and [(e.onset, e.end) for e in detected] == loaded.getEvents()


def test_model_comes_from_the_environment(artefact, recordings, tmp_path, monkeypatch):
  monkeypatch.setenv(szcore.MODEL_VARIABLE, str(artefact))
  assert szcore.main([str(recordings["average19"]), str(tmp_path / "x.tsv")]) == 0
  assert events.read_tsv(tmp_path / "x.tsv")[1] == 120.0


def test_bad_input_is_one_line_and_status_2(artefact, recordings, tmp_path, monkeypatch, capsys):
  monkeypatch.delenv(szcore.MODEL_VARIABLE, raising=False)
  out = str(tmp_path / "x.tsv")
  assert szcore.main([str(recordings["average19"]), out, "--model", str(tmp_path / "none.jaxexport")]) == 2
  assert "none.jaxexport not found" in capsys.readouterr().err
  if not szcore.DEFAULT_MODEL.exists():
    assert szcore.main([str(recordings["average19"]), out]) == 2
    assert f"set ${szcore.MODEL_VARIABLE}" in capsys.readouterr().err
  assert szcore.main([str(tmp_path / "absent.edf"), out, "--model", str(artefact)]) == 2
  assert "absent.edf: EDF file not found" in capsys.readouterr().err
  # A double-banana file holds no referential electrodes for this 19-electrode model.
  assert szcore.main([str(recordings["banana18"]), out, "--model", str(artefact)]) == 2
  error = capsys.readouterr().err
  assert error.count("\n") == 1 and "missing channel" in error and "FP1" in error


def test_dockerfile_runs_this_command_with_this_model_path():
  dockerfile = (REPO / "Dockerfile").read_text()
  assert f"{szcore.MODEL_VARIABLE}={szcore.DEFAULT_MODEL}" in dockerfile
  assert f"COPY ${{MODEL}} {szcore.DEFAULT_MODEL}" in dockerfile
  assert 'CMD python3 -m jclip_eeg.szcore "/data/${INPUT}" "/output/${OUTPUT}"' in dockerfile
  kept = (REPO / ".dockerignore").read_text().splitlines()
  assert {"*", "!pyproject.toml", "!jclip_eeg/", "!**/*.jaxexport"} <= set(kept)


# ----------------------------------------------------------------------------- the bar, with montages


def _bids_from_synthetic(raw: Path, bids: Path) -> list[Path]:
  """epilepsy2bids's CHB-MIT conversion of synthetic recordings: double-banana EDFs + reference events.tsv."""
  from epilepsy2bids.load_annotations.chbmit import loadAnnotationsFromEdf
  written = []
  for k, edf_path in enumerate(sorted(raw.glob("chb*/*.edf"))):
    base = bids / f"sub-{edf_path.parent.name[3:5]}" / "ses-01" / "eeg" / \
        f"sub-{edf_path.parent.name[3:5]}_ses-01_task-szMonitoring_run-{k:02}"
    eeg = Eeg.loadEdf(str(edf_path), Eeg.Montage.BIPOLAR, Eeg.BIPOLAR_DBANANA)
    eeg.standardize(256, Eeg.BIPOLAR_DBANANA, "bipolar")
    eeg.saveEdf(f"{base}_eeg.edf")
    loadAnnotationsFromEdf(str(edf_path)).saveTsv(f"{base}_events.tsv")
    written.append(Path(f"{base}_eeg.edf"))
  return written


@pytest.mark.slow
def test_banana18_model_scores_through_szcore(tmp_path_factory, recordings):
  tmp = tmp_path_factory.mktemp("banana18")
  config = learning_config(tmp, montage="banana18")
  from jclip_eeg.train import loop
  with fast_compile():
    loop.train_and_evaluate(config, tmp / "work")
  artefact = tmp / "student.jaxexport"
  export.export_stage(tmp / "work" / "student", artefact)
  synthetic.generate(tmp / "unseen", n_patients=2, recordings_per_patient=2, duration_s=600,
                     seizures_per_recording=(2, 3), seed=11)
  bids_recordings = _bids_from_synthetic(tmp / "unseen", tmp / "bids")
  for edf_path in bids_recordings:
    out = tmp / "hyp" / edf_path.relative_to(tmp / "bids").with_name(edf_path.name.replace("_eeg.edf", "_events.tsv"))
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "jclip_eeg.szcore", str(edf_path), str(out), "--model",
                           str(artefact)], env=_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with pyedflib.EdfReader(str(edf_path)) as f:
      assert all(e["dateTime"] == f.getStartdatetime() for e in Annotations.loadTsv(str(out)).events)
  done = subprocess.run([sys.executable, str(REPO / "scripts" / "score.py"), "--ref", str(tmp / "bids"), "--hyp",
                         str(tmp / "hyp"), "--out", str(tmp / "scores")], env=_ENV, capture_output=True, text=True,
                        timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  summary = json.loads((tmp / "scores" / "scores.json").read_text())
  assert summary["dataset"]["event"]["f1"] >= 0.9, summary["dataset"]
  reference = bids_recordings[0].with_name(bids_recordings[0].name.replace("_eeg.edf", "_events.tsv"))
  done = subprocess.run([sys.executable, str(REPO / "scripts" / "detect.py"), "--model", str(artefact), "--edf",
                         str(bids_recordings[0]), "--out", str(tmp / "detect" / "rec_events.tsv"), "--annotations",
                         str(reference)], env=_ENV, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads((tmp / "detect" / "rec_scores.json").read_text())["event"]["f1"] is not None
  # The same model on SzCORE's 19-channel common-average EDF (epilepsy2bids's standardisation): banana18 is
  # derived from the Fp1-Avg ... electrodes by subtraction, so the per-second probabilities equal those on
  # epilepsy2bids's own double-banana file of the same recording (up to the two files' 16-bit quantisation),
  # and the TSV loads unchanged.
  predictor = detection.load_predictor(artefact)
  from_average = detection.detect(predictor, recordings["average19"]).probs
  from_bipolar = detection.detect(predictor, recordings["banana18"]).probs
  assert from_average.shape == from_bipolar.shape == (120,)
  np.testing.assert_allclose(from_average, from_bipolar, atol=1e-3)
  out = tmp / "average19_events.tsv"
  done = subprocess.run([sys.executable, "-m", "jclip_eeg.szcore", str(recordings["average19"]), str(out), "--model",
                         str(artefact)], env=_ENV, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  with pyedflib.EdfReader(str(recordings["average19"])) as f:
    start, duration = f.getStartdatetime(), f.getFileDuration()
  loaded = Annotations.loadTsv(str(out)).events
  assert loaded and all(e["dateTime"] == start and e["recordingDuration"] == duration for e in loaded)
