"""Model configs and model_info (counts and XLA FLOPs; scripts/model_info.py prints them as JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flax import nnx

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError
from jclip_eeg.models import build_conformer, count_params
from jclip_eeg.models.info import model_info

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "model_info.py"
TINY_EEG = dict(d_model=20, n_heads=2, n_layers=1, head_hidden=16, n_filters=4)
PAPER_SHAPES = {"chbmit": (23, 256, 2), "tusz": (19, 256, 8), "neonatal": (19, 256, 2), "aubmc": (19, 500, 4)}


def _load_config(dataset: str, role: str, arg: str | None = None):
  return config_lib.load_config_file(ROOT / "configs" / f"{dataset}_{role}.py", arg)


@pytest.mark.parametrize("role, n_layers", [("teacher", 8), ("student", 4)])
@pytest.mark.parametrize("dataset", sorted(PAPER_SHAPES))
def test_config_files_match_the_paper_and_are_locked(dataset, role, n_layers):
  config = _load_config(dataset, role)
  assert (config.data.n_channels, config.data.n_times, len(config.data.class_names)) == PAPER_SHAPES[dataset]
  assert config.model.role == role and config.model.eeg.n_layers == n_layers
  with pytest.raises(AttributeError):
    config.model.eeg.n_layer = 2  # a typo must not silently add a field


def test_tusz_binary_arg_and_bad_args():
  assert tuple(_load_config("tusz", "teacher", "binary").data.class_names) == ("bckg", "seiz")
  with pytest.raises(ConfigError, match="binary"):
    _load_config("chbmit", "teacher", "binary")
  with pytest.raises(ConfigError, match="chbmit_teachr.py: no such config file"):
    config_lib.load_config_file(ROOT / "configs" / "chbmit_teachr.py")


def test_model_info_cli_teacher_json_with_minilm():
  overrides = [f"--config.model.eeg.{k}={v}" for k, v in TINY_EEG.items()] + [
      "--config.model.text.max_length=24", "--config.model.text.n_context=2"]  # offline MiniLM default
  env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, str(SCRIPT), "--config", str(ROOT / "configs/chbmit_teacher.py"),
                           "--batch", "2", *overrides], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  info = json.loads(result.stdout)
  config = config_lib.get_config("chbmit", "teacher")
  config.model.eeg.update(TINY_EEG)
  eeg = nnx.eval_shape(lambda: build_conformer(config.model.eeg, n_channels=23, n_times=256, embed_dim=512,
                                               rngs=nnx.Rngs(0)))
  params = info["params"]
  assert params["eeg_encoder"] == count_params(eeg) and params["eeg_prompts"] == 1 * 4 * 20
  assert params["text_encoder_with_projection"] - params["text_encoder"] == 384 * 512 + 512  # MiniLM H=384
  clip_head = 512 * 2 + 2 + 1  # classifier + log scale
  assert params["total"] == params["eeg_encoder"] + params["text_encoder_with_projection"] + clip_head
  assert info["trainable"]["total"] == params["total"]  # text.trainable="all"
  assert info["flops"]["eeg_tower_per_sample"] > 0 and info["flops"]["text_tower_per_step"] > 0
  assert info["flops"]["text_sentences"] == 5


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_model_info_without_text_tower_and_per_sample_flops(role):
  """A student, and a teacher with config.model.text.enabled=False (the EEG-only ablations)."""
  config = config_lib.get_config("aubmc", role)
  config.model.eeg.update(TINY_EEG)
  config.model.text.enabled = False
  at2, at4 = model_info(config, batch=2), model_info(config, batch=4)
  assert at2["params"]["text_encoder"] is None and at2["flops"]["text_tower_per_step"] is None
  assert at2["trainable"]["total"] == at2["params"]["total"] > at2["params"]["eeg_encoder"]
  assert at2["flops"]["eeg_tower_per_sample"] == pytest.approx(at4["flops"]["eeg_tower_per_sample"], rel=0.01)
