"""A finished training stage (`<workdir>/teacher`, `<workdir>/student`), read back as a self-contained model.

A stage directory holds

  config.json               the stage's run config (it rebuilds the model)
  checkpoints/              Orbax checkpoints (`checkpoints.py`); the best one by validation macro F1 is the model
  class_text_features.npy   (n_classes, E) float32 class-text features it predicts with: a teacher's own at
                            its best step, a student's frozen copy of its teacher's U_T (written when it starts)
  teacher.json              student only: its teacher's directory and fingerprint (written when it starts)
  result.json               written last, so its presence means finished: parameter counts, best step,
                            validation and test reports, `fingerprint` (of the best weights), detection settings

`load(stage_dir)` gives a `FinishedStage` from that directory alone: the
model's weights at the best step (no optimiser, no step count), its
class-text features and its predictor. A student needs nothing of its
teacher, so `runs/x/student` copied anywhere predicts, detects and exports
on its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from jclip_eeg import jsonio, sharding
from jclip_eeg.data import datasets
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.models.clip import build_model, trainable_filter
from jclip_eeg.runs.checkpoints import Checkpoints, UnreadableCheckpoint
from jclip_eeg.runs.inference import Predictor, Weights, fingerprint

STAGES = ("teacher", "student")
CONFIG, RESULT, TEXT_FEATURES, TEACHER = "config.json", "result.json", "class_text_features.npy", "teacher.json"


def is_finished(stage_dir: str | Path) -> bool:
  return (Path(stage_dir) / RESULT).is_file()


def _read_record(path: Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
  """A JSON object the stage wrote; DataError naming the file when it does not parse or lacks `required` keys."""
  try:
    record = jsonio.read_json(path)
  except (OSError, ValueError) as error:
    raise DataError(f"{path}: unreadable ({error}); the stage directory is damaged") from None
  missing = [key for key in required if not isinstance(record, dict) or key not in record]
  if missing:
    raise DataError(f"{path}: lacks {missing}; the stage directory is damaged")
  return record


def read_config(stage_dir: str | Path) -> ml_collections.ConfigDict:
  """The stage's run config (`<stage>/config.json`)."""
  path = Path(stage_dir) / CONFIG
  if not path.is_file():
    raise ConfigError(f"{path}: missing; {Path(stage_dir)} is not a stage trained by scripts/train.py")
  return ml_collections.ConfigDict(_read_record(path, ("data", "model", "train")))


def read_result(stage_dir: str | Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
  """The result.json of a finished stage; ConfigError naming the directory when it is not finished,
  DataError when it does not parse or lacks a `required` key."""
  stage_dir = Path(stage_dir)
  if not ((stage_dir / CONFIG).is_file() and is_finished(stage_dir)):
    raise ConfigError(f"{stage_dir}: no finished stage ({CONFIG} and {RESULT} expected, e.g. runs/demo/student); "
                      "train it with scripts/train.py")
  return _read_record(stage_dir / RESULT, required)


def initial_weights(config: ml_collections.ConfigDict, mesh: Mesh) -> tuple[nnx.GraphDef, Weights]:
  """The freshly initialised model of `config` (seed config.train.seed) as (graphdef, (params, rest)),
  split like the training state (`clip.trainable_filter`) and replicated on `mesh`."""
  model = build_model(config, rngs=nnx.Rngs(config.train.seed))
  graphdef, params, rest = nnx.split(model, trainable_filter(config.model), ...)
  return graphdef, sharding.replicate((params, rest), mesh)


def save_text_features(stage_dir: Path, features: jax.Array) -> None:
  """Writes (n_classes, E) class-text features next to the checkpoints (atomically)."""
  tmp = stage_dir / f".{TEXT_FEATURES}.tmp"
  with open(tmp, "wb") as f:
    np.save(f, np.asarray(jax.device_get(features), np.float32))
  tmp.replace(stage_dir / TEXT_FEATURES)


def read_text_features(stage_dir: Path, mesh: Mesh) -> jax.Array:
  """The stage's (n_classes, E) class-text features, replicated on `mesh`."""
  path = Path(stage_dir) / TEXT_FEATURES
  try:
    features = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as error:
    raise DataError(f"{path}: unreadable class-text features ({error}); retrain the stage") from None
  if features.ndim != 2 or not np.all(np.isfinite(features)):
    raise DataError(f"{path}: expected finite (n_classes, E) features, got {features.dtype} {features.shape}")
  return sharding.replicate(features, mesh)


@dataclasses.dataclass(frozen=True)
class FinishedStage:
  """A finished stage at its best validation checkpoint, ready for inference.

  Attributes:
    directory: the stage directory.
    config: its run config.
    result: its result.json.
    graphdef, weights: the model at `result["best_step"]` (eval mode when merged by `inference.merge`).
    text_features: (n_classes, E) class-text features it predicts with.
    mesh: the devices the weights are replicated on.
  """
  directory: Path
  config: ml_collections.ConfigDict
  result: dict[str, Any]
  graphdef: nnx.GraphDef
  weights: Weights
  text_features: jax.Array
  mesh: Mesh

  @property
  def role(self) -> str:
    return self.config.model.role

  def predictor(self) -> Predictor:
    """(B, C, T) z-scored windows -> (B, n_classes) probabilities (`inference.Predictor`)."""
    return Predictor(self.graphdef, self.weights, self.text_features, self.config.model.prediction, self.mesh)

  def metadata(self) -> dict[str, Any]:
    """What inference needs besides the weights (JSON-ready): the input it expects and how to read it."""
    return model_metadata(self.config) | {"fingerprint": self.result.get("fingerprint"),
                                          "detection": self.result.get("detection")}


def model_metadata(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """dataset, montage, class_names, channel_names, sfreq (Hz), window_samples, band_hz, role, prediction of a run
  config (`montage`: how detection derives the channels from any file, `jclip_eeg.data.montages`)."""
  data = config.data
  reader = datasets.get(data.dataset, **datasets.options_of(data))
  spec = reader.spec
  if data.n_channels != len(spec.channel_names):
    raise ConfigError(f"config.data.n_channels: {data.n_channels}, but the {data.dataset} {reader.montage} montage "
                      f"has {len(spec.channel_names)} channels")
  return {"dataset": data.dataset, "montage": reader.montage, "class_names": list(data.class_names),
          "channel_names": list(spec.channel_names),
          "sfreq": float(spec.sfreq), "window_samples": int(data.n_times), "band_hz": list(spec.band_hz),
          "role": config.model.role, "prediction": config.model.prediction}


def load(stage_dir: str | Path, mesh: Mesh | None = None) -> FinishedStage:
  """The finished stage in `stage_dir` at its best checkpoint (module docstring).

  Args:
    stage_dir: e.g. runs/demo/student.
    mesh: where to place the weights (default: one device, for inference).
  Raises:
    ConfigError: not a finished stage.
    DataError: its best checkpoint or class-text features cannot be read, or
      the weights there are not those result.json records (their fingerprint).
  """
  stage_dir = Path(stage_dir)
  result = read_result(stage_dir, ("best_step", "fingerprint"))
  config = read_config(stage_dir)
  mesh = mesh or sharding.make_mesh(jax.devices()[:1])
  graphdef, template = initial_weights(config, mesh)
  try:
    checkpoints = Checkpoints(stage_dir / "checkpoints", read_only=True)
    try:
      weights = checkpoints.restore_weights(result["best_step"], template)
    finally:
      checkpoints.close()
  except UnreadableCheckpoint as error:
    raise DataError(f"{error}; restore {stage_dir} from a backup, or train the stage again") from None
  found = fingerprint(weights)
  if found != result["fingerprint"]:
    raise DataError(f"{checkpoints.directory}/{result['best_step']}: its weights are not the ones {RESULT} records "
                    f"(fingerprint {found[:12]}, recorded {result['fingerprint'][:12]}): the "
                    "checkpoint was damaged or replaced after training; retrain the stage or restore its folder")
  return FinishedStage(stage_dir, config, result, graphdef, weights, read_text_features(stage_dir, mesh), mesh)


def teacher_record(teacher_dir: Path) -> dict[str, Any]:
  """{"directory", "fingerprint"} of a finished teacher: what a student records of the teacher it learns from."""
  return {"directory": str(teacher_dir), "fingerprint": read_result(teacher_dir, ("fingerprint",))["fingerprint"]}


def check_teacher(student_dir: Path, teacher_dir: Path) -> None:
  """ConfigError when the finished teacher at `teacher_dir` is not the one the student at `student_dir` records."""
  recorded = _read_record(student_dir / TEACHER, ("directory", "fingerprint"))
  found = teacher_record(teacher_dir)
  if found["fingerprint"] != recorded["fingerprint"]:
    raise ConfigError(
        f"{teacher_dir} holds another teacher than the one {student_dir} was distilled from (fingerprint "
        f"{found['fingerprint'][:12]}, recorded {recorded['fingerprint'][:12]} from {recorded['directory']}): "
        "restore that teacher, or distil a new student in a fresh --workdir")


def record_teacher(student_dir: Path, teacher_dir: Path, text_features: jax.Array) -> None:
  """Writes the student's teacher.json and its frozen copy of the teacher's class-text features."""
  save_text_features(student_dir, text_features)
  jsonio.write_json(student_dir / TEACHER, teacher_record(teacher_dir))

