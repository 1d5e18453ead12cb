"""Fault corpus, configs and overrides: every bad value is refused before the workdir is claimed.

The base is the toy demo run (`toy_run.toy_config`) on a small store of
random windows written here. Each case changes one field (as
`--config.<field>=value` would) and asserts that `train_and_evaluate` raises
one line naming the field, and that nothing was written into the workdir, so
the corrected command is never refused as "another config". Config files and
the command line's override messages are checked at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_collections
import pytest
from absl import flags
from faults import files_under, raises_naming, write_random_store
from ml_collections import config_flags
from ml_collections.config_flags import config_path
from toy_run import REPO, toy_config

from jclip_eeg import cli, config_lib
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.train import loop


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> ml_collections.ConfigDict:
  tmp = tmp_path_factory.mktemp("config_faults")
  config = toy_config(tmp)
  with config.unlocked():
    config.data.update(dict(store=str(write_random_store(tmp / "store")), prepare=False))
  return config


def _with(config: ml_collections.ConfigDict, changes: dict[str, Any]) -> ml_collections.ConfigDict:
  """A locked copy of `config` with dotted fields changed, as --config.<field>=value overrides do."""
  changed = ml_collections.ConfigDict(config.to_dict())
  for key, value in changes.items():
    *sections, field = key.split(".")
    node = changed
    for section in sections:
      node = node[section]
    node[field] = value
  changed.lock()
  return changed


# (fields changed, the error, what its one line says).
FAULTS = [
    ({"model.prediction": "foo"}, ConfigError, "model.prediction must be one of ('clip', 'head', 'mean'), got 'foo'"),
    ({"model.compute_dtype": "float16"}, ConfigError, "model.compute_dtype must be one of"),
    ({"model.role": "critic"}, ConfigError, "config.model.role='critic'"),
    ({"model.embed_dim": 4}, ConfigError, "student config.model.teacher_embed_dim=8, but its teacher's "
                                          "model.embed_dim is 4"),
    ({"model.logit_scale_init": 0.0}, ConfigError, "model.logit_scale_init=0.0"),
    ({"model.eeg.d_model": 7}, ConfigError, "d_model=7 is not divisible by n_heads=2"),
    ({"model.eeg.n_prompts": -1}, ConfigError, "model.eeg.n_prompts must be >= 0"),
    ({"model.eeg.pool_size": 1000}, ConfigError, "too short for temporal_kernel=9 and pool_size=1000"),
    ({"model.text.prompt_mode": "foo"}, ConfigError, "needs prompt_mode='learnable', got 'foo'"),
    ({"model.text.n_context": 0}, ConfigError, "config.model.text.n_context=0 must be >= 1"),
    ({"model.text.template": "no slot"}, ConfigError, "must contain '{}' exactly once"),
    ({"model.text.trainable": "some"}, ConfigError, "config.model.text.trainable='some'"),
    ({"model.text.pooling": "max"}, ConfigError, "config.model.text.pooling='max'"),
    ({"model.text.max_length": 1}, ConfigError, "config.model.text.max_length=1 must be in"),
    ({"model.text.checkpoint": "/nonexistent/bert"}, DataError, "/nonexistent/bert does not exist"),
    ({"data.split.by": "subject"}, ConfigError, "config.data.split: split by: 'subject'"),
    ({"data.split.k": 1}, ConfigError, "config.data.split: k: 1; expected at least 2 folds"),
    ({"data.split.fold": 2}, ConfigError, "config.data.split.fold=2 must be in [0, k=2)"),
    ({"data.split.fold": -1}, ConfigError, "config.data.split.fold=-1 must be in [0, k=2)"),
    ({"data.split.val_fraction": 0.0}, ConfigError, "config.data.split.val_fraction=0.0: model selection needs"),
    ({"data.split.val_fraction": 1.0}, ConfigError, "val_fraction: 1.0; expected a fraction in [0, 1)"),
    ({"data.label_rule": "most"}, ConfigError, "label_rule: 'most'"),
    ({"data.dataset": "nope"}, ConfigError, "no class sentences for dataset 'nope'"),
    ({"data.class_names": ("calm", "storm")}, ConfigError, "has no sentences for classes"),
    ({"data.n_channels": 5}, DataError, "the config expects ('normal', 'seizure') and (5, 256)"),
    ({"data.store": "/nonexistent/store"}, DataError, "config.data.store=/nonexistent/store: no prepared store"),
    ({"data.worker_count": -1}, ConfigError, "worker_count: expected an int >= 0, got -1"),
    ({"data.prefetch": 0}, ConfigError, "prefetch: expected an int >= 1, got 0"),
    ({"train.batch_size": 0}, ConfigError, "teacher config.train.batch_size=0 must be a positive multiple"),
    ({"train.batch_size": 100_000}, ConfigError, "batch_size=100000 is larger than one epoch"),
    ({"train.eval_batch_size": 0}, ConfigError, "teacher config.train.eval_batch_size=0"),
    ({"train.epochs": 0}, ConfigError, "config.train: epochs=0"),
    ({"train.log_every_steps": 0}, ConfigError, "log_every_steps=0 must be >= 1"),
    ({"train.eval_every_steps": -1}, ConfigError, "eval_every_steps=-1 >= 0"),
    ({"train.keep_checkpoints": 0}, ConfigError, "keep_checkpoints=0 must be >= 1"),
    ({"train.seed": -1}, ConfigError, "seed=-1 >= 0"),
    ({"train.alpha": 1.5}, ConfigError, "alpha=1.5 in [0, 1]"),
    ({"optimizer.learning_rate": 0.0}, ConfigError, "learning_rate=0.0 must be > 0"),
    ({"optimizer.schedule": "linear"}, ConfigError, "config.optimizer.schedule='linear'"),
    ({"optimizer.grad_clip_norm": -1.0}, ConfigError, "config.optimizer.grad_clip_norm=-1.0 must be >= 0"),
    ({"optimizer.warmup_steps": -1}, ConfigError, "warmup_steps=-1 >= 0"),
    ({"optimizer.schedule": "cosine", "optimizer.warmup_steps": 10_000}, ConfigError,
     "schedule='cosine' needs total_steps > warmup_steps=10000"),
    # The student stage runs after the teacher: its faults must stop the run before the teacher trains.
    ({"student.model.prediction": "foo"}, ConfigError, "model.prediction must be one of"),
    ({"student.model.teacher_embed_dim": 5}, ConfigError, "teacher_embed_dim=5, but its teacher's model.embed_dim is 8"),
    ({"student.model.eeg.n_heads": 3}, ConfigError, "d_model=8 is not divisible by n_heads=3"),
    ({"student.train.batch_size": 100_000}, ConfigError, "batch_size=100000 is larger than one epoch"),
    ({"student.train.temperature": 0.0}, ConfigError, "student config.train.temperature=0.0 must be > 0"),
    ({"student.train.epochs": 0}, ConfigError, "config.train: epochs=0"),
    ({"student.optimizer.learning_rate": -1.0}, ConfigError, "learning_rate=-1.0 must be > 0"),
]


@pytest.mark.parametrize("changes, error, message", FAULTS, ids=[",".join(f"{k}={v}" for k, v in f[0].items())
                                                               for f in FAULTS])
def test_a_bad_value_is_refused_before_the_workdir_is_claimed(base, tmp_path, changes, error, message):
  workdir = tmp_path / "run"
  with raises_naming(error, message):
    loop.train_and_evaluate(_with(base, changes), workdir)
  assert files_under(workdir) == []


def test_a_student_of_an_unfinished_teacher_workdir_is_refused_before_anything_is_written(base, tmp_path):
  student = config_lib.student_run(_with(base, {"workdir": str(tmp_path / "teacher_run")}))
  (tmp_path / "teacher_run" / "teacher").mkdir(parents=True)
  with raises_naming(ConfigError, tmp_path / "teacher_run" / "teacher", "no finished stage"):
    loop.train_and_evaluate(student, tmp_path / "student_run")
  assert files_under(tmp_path / "student_run") == []


# ----------------------------------------------------------------------------- config files


def _config_file(tmp_path: Path, text: str) -> Path:
  path = tmp_path / "my_config.py"
  path.write_text(text)
  return path


CONFIG_FILES = [
    ("missing", None, None, "no such config file"),
    ("syntax error", "def get_config(arg=None)\n  return None\n", None, "does not run (SyntaxError"),
    ("import error", "import no_such_module\n", None, "does not run (ModuleNotFoundError"),
    ("raises while loading", "raise RuntimeError('half written')\n", None, "does not run (RuntimeError: half written)"),
    ("no get_config", "CONFIG = {}\n", None, "defines no get_config(arg=None)"),
]


@pytest.mark.parametrize("fault, text, arg, message", CONFIG_FILES, ids=[c[0] for c in CONFIG_FILES])
def test_a_config_file_that_does_not_load_is_one_line_naming_it(tmp_path, fault, text, arg, message):
  path = tmp_path / "absent.py" if text is None else _config_file(tmp_path, text)
  with raises_naming(ConfigError, path, message):
    config_lib.load_config_file(path, arg)


@pytest.mark.parametrize("name, arg, message", [
    ("demo", "foo", "config arg 'foo': 'foo' is not understood for synthetic"),
    ("tusz_teacher", "foo", "config arg 'foo': 'foo' is not understood for tusz"),
    ("chbmit_teacher", "binary", "config arg 'binary': 'binary' is not understood for chbmit"),
])
def test_an_unknown_config_argument_is_one_line(name, arg, message):
  with raises_naming(ConfigError, message):
    config_lib.load_config_file(REPO / "configs" / f"{name}.py", arg)


def _override_error(config_file: Path, path: str) -> Exception:
  """What ml_collections raises while parsing `--config.<path>=...` for a field the config lacks."""
  config = config_lib.load_config_file(config_file)
  with pytest.raises((AttributeError, KeyError)) as caught:
    config_path.get_type(path, config)
  return caught.value


@pytest.mark.parametrize("override, message", [
    ("--config.train.batchsize=8", "--config.train.batchsize=8: no config field 'batchsize'; did you mean "
                                   "'batch_size'?"),
    ("--config.trian.epochs=3", "--config.trian.epochs=3: no config field 'trian'; did you mean 'train'?"),
    ("--config.model.eeg.dmodel=8", "no config field 'dmodel'; did you mean 'd_model'?"),
    ("--config.zzz=1", "--config.zzz=1: no config field 'zzz'"),
])
def test_a_mistyped_override_names_the_field_and_its_closest_name(override, message):
  config_file = REPO / "configs" / "demo.py"
  argv = ["--config", str(config_file), override]
  error = _override_error(config_file, override.removeprefix("--config.").split("=")[0])
  assert message in cli.override_error_text(argv, error)


def _parse_error(argv: list[str]) -> Exception:
  """The exception absl + ml_collections raise for `argv` (a private FlagValues, as the scripts' --config)."""
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "config", flag_values=flag_values, lock_config=True)
  with pytest.raises(flags.Error) as caught:
    flag_values(["train.py", *argv])
  return caught.value


def test_an_error_raised_by_a_config_file_is_its_last_line(tmp_path):
  path = _config_file(tmp_path, "from jclip_eeg.errors import ConfigError\n\ndef get_config(arg=None):\n"
                                "  raise ConfigError('my_config.py: no such variant ' + repr(arg))\n")
  error = _parse_error(["--config", f"{path}:big"])
  text = cli.flag_error_text(error)
  assert text.endswith("my_config.py: no such variant 'big'") and "\n" not in text and "Traceback" not in text
