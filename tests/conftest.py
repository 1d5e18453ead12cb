"""Shared pytest fixtures: the real annotation files in ../shared/fixtures and fast compilation.

This folder is on sys.path (pytest puts a rootdir conftest's folder there), so
tests import the helpers beside this file: `steps_helpers` (tiny models and
batches) and `toy_run` (the toy teacher + student run).
"""

from __future__ import annotations

from pathlib import Path

import jax
import pytest
from steps_helpers import fast_compile

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
  """`shared/fixtures` beside the repository (real CHB-MIT/TUSZ/neonatal annotation files)."""
  if not SHARED_FIXTURES.is_dir():
    pytest.fail(f"{SHARED_FIXTURES} not found: clone the repo with ../shared beside it")
  return SHARED_FIXTURES


@pytest.fixture(scope="module")
def fast_jax(tmp_path_factory):
  """XLA's cheap optimisation settings and a persistent compilation cache shared by the test modules.

  Compiling dominates the toy runs; folds and ablations of one model reuse its executables.
  """
  settings = {"jax_compilation_cache_dir": str(tmp_path_factory.getbasetemp() / "jax-cache"),
              "jax_persistent_cache_min_compile_time_secs": 0.0, "jax_persistent_cache_min_entry_size_bytes": 0}
  previous = {name: getattr(jax.config, name) for name in settings}
  with fast_compile():
    for name, value in settings.items():
      jax.config.update(name, value)
    yield
    for name, value in previous.items():
      jax.config.update(name, value)


@pytest.fixture(scope="session")
def short_recording(tmp_path_factory) -> Path:
  """One synthetic 150-s CHB-MIT-layout EDF with one 20-s seizure (its chb01-summary.txt beside it)."""
  from jclip_eeg.data import synthetic
  root = tmp_path_factory.mktemp("short_raw")
  synthetic.generate(root, n_patients=1, recordings_per_patient=1, duration_s=150,
                     seizures_per_recording=(1, 1), seizure_duration_s=(20, 20), seed=3)
  return root / "chb01" / "chb01_01.edf"
