"""One model, several datasets: a toy run trained in banana18 on synthetic CHB-MIT-layout data detects on a
Siena-format referential recording (512 Hz, `EEG Fp1` labels) as on its own kind of file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reader_helpers import SIENA_LABELS, siena_signals
from steps_helpers import fast_compile
from toy_run import toy_config

from jclip_eeg.data.channels import BANANA18
from jclip_eeg.data.edf import write_edf
from jclip_eeg.data.store import EpochStore
from jclip_eeg.eval import detection
from jclip_eeg.train import loop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def banana_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("banana")
  config = toy_config(tmp, montage="banana18")
  with fast_compile():
    loop.train_and_evaluate(config, tmp / "work")
  return config, tmp / "work"


def test_a_banana18_run_trains_on_banana18_windows(banana_run):
  config, work = banana_run
  assert EpochStore(config.data.store).channel_names == BANANA18
  predictor = detection.load_predictor(work / "student")
  assert (predictor.metadata["montage"], tuple(predictor.metadata["channel_names"])) == ("banana18", BANANA18)


def test_the_banana18_model_detects_on_a_referential_siena_file(banana_run, tmp_path):
  config, work = banana_run
  predictor = detection.load_predictor(work / "student")
  own = sorted(Path(config.data.root).glob("chb*/*.edf"))[0]  # a recording of the training data's kind
  siena = write_edf(tmp_path / "PN00-1.edf", siena_signals(90, seed=2), 512.0, list(SIENA_LABELS),
                    physical_range=(-200.0, 200.0))
  with fast_compile():
    on_own, on_siena = (detection.detect(predictor, path) for path in (own, siena))
  assert on_siena.duration_s == 90.0 and on_siena.probs.shape == (90,)
  assert on_own.probs.shape == (round(on_own.duration_s),)
  assert np.all((on_siena.probs >= 0) & (on_siena.probs <= 1))
