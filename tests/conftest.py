"""Shared pytest fixtures: the real annotation files in ../shared/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
  """`shared/fixtures` beside the repository (real CHB-MIT/TUSZ/neonatal annotation files)."""
  if not SHARED_FIXTURES.is_dir():
    pytest.fail(f"{SHARED_FIXTURES} not found: clone the repo with ../shared beside it")
  return SHARED_FIXTURES
