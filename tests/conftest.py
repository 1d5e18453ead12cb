"""Shared pytest fixtures: the real annotation files in ../shared/fixtures, the scripts as modules."""

from __future__ import annotations

import functools
import importlib.util
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
  """`shared/fixtures` beside the repository (real CHB-MIT/TUSZ/neonatal annotation files)."""
  if not SHARED_FIXTURES.is_dir():
    pytest.fail(f"{SHARED_FIXTURES} not found: clone the repo with ../shared beside it")
  return SHARED_FIXTURES


@functools.cache
def _script_module(name: str) -> types.ModuleType:
  spec = importlib.util.spec_from_file_location(f"_script_{name}", REPO / "scripts" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="session")
def script_module():
  """`script_module("detect")` is scripts/detect.py as a module, loaded once per session (some scripts define
  absl flags, which can be defined only once)."""
  return _script_module
