"""What the train-step benchmarks run: the models' configs and a fixed random batch.

Shared by bench_train, bench_inference and bench_scaling, with the same
command-line flags (`add_model_flags`). JAX and the package are imported
inside the functions: bench_scaling's parent process sets up its workers'
devices before any backend starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ROLES = ("teacher", "student")
PRESETS = ("paper", "demo")
DTYPES = ("auto", "float32", "bfloat16")


def add_model_flags(parser: argparse.ArgumentParser, default_preset: str = "paper") -> None:
  """--model, --text-checkpoint, --tokenizer, --dtype, --attention (see `model_configs`)."""
  parser.add_argument("--model", choices=PRESETS, default=default_preset,
                      help="paper: CHB-MIT shape, bert-base text tower with random weights; demo: configs/demo.py")
  parser.add_argument("--text-checkpoint", default="",
                      help="a local HF BERT folder instead of the preset's text checkpoint")
  parser.add_argument("--tokenizer", default="",
                      help="HF tokenizer folder for the random text tower (where the MiniLM package is not "
                           "installed, e.g. a GPU host: see benchmarks/gpu_session.sh)")
  parser.add_argument("--dtype", choices=DTYPES, default="auto",
                      help="compute dtype; auto: bfloat16 on GPU, float32 on CPU")
  parser.add_argument("--attention", default="einsum",
                      help="the Conformer's attention core, config.model.eeg.attention: einsum, dot_product "
                           "(jax.nn.dot_product_attention, XLA) or cudnn (its fused kernel: GPU, bfloat16)")


def model_flags(args: argparse.Namespace) -> list[str]:
  """The flags of `add_model_flags` as given, to pass on to a subprocess."""
  return ["--model", args.model, "--text-checkpoint", args.text_checkpoint, "--tokenizer", args.tokenizer,
          "--dtype", args.dtype, "--attention", args.attention]


def on_gpu() -> bool:
  """Whether JAX's default backend is a GPU (this starts the backend)."""
  import jax
  return jax.default_backend() == "gpu"


def compute_dtype(dtype: str) -> str:
  """"auto" -> "bfloat16" on a GPU backend, else "float32"; other values pass through."""
  if dtype != "auto":
    return dtype
  return "bfloat16" if on_gpu() else "float32"


def model_configs(args: argparse.Namespace) -> dict[str, Any]:
  """{role: locked ConfigDict} of the preset in `args`, with its text checkpoint, tokenizer and dtype."""
  from jclip_eeg import config_lib
  from jclip_eeg.train import loop
  if args.model == "demo":
    configs = dict(loop.stage_configs(config_lib.load_config_file(REPO / "configs" / "demo.py")))
  else:
    configs = {role: config_lib.get_config("chbmit", role) for role in ROLES}
    for config in configs.values():
      with config.unlocked():
        config.model.text.checkpoint = "random"  # the bert-base-uncased shape (config.model.text.arch)
  for config in configs.values():
    with config.unlocked():
      config.model.compute_dtype = compute_dtype(args.dtype)
      config.model.eeg.attention = args.attention
      if args.text_checkpoint:
        config.model.text.checkpoint = args.text_checkpoint
      if args.tokenizer:
        config.model.text.tokenizer = args.tokenizer
  return configs


def with_batch(config: Any, batch_size: int) -> Any:
  """A copy of `config` with train.batch_size = `batch_size`."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.train.batch_size = batch_size
  return config


def random_batch(config: Any, batch_size: int, seed: int = 0) -> dict[str, np.ndarray]:
  """x (B, C, T) float32 standard normal, y (B,) int32 cycling over the classes, valid (B,) all True."""
  data = config.data
  x = np.random.default_rng(seed).standard_normal((batch_size, data.n_channels, data.n_times), dtype=np.float32)
  y = (np.arange(batch_size) % len(data.class_names)).astype(np.int32)
  return dict(x=x, y=y, valid=np.ones(batch_size, bool))
