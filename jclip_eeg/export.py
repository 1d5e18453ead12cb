"""Exported inference: EEG windows (B, C, T) -> class probabilities, runnable with only jax + numpy.

`export_stage(stage_dir, out)` traces a finished stage's eval-mode prediction
(the config's prediction logits, softmax) with `jax.export`, the batch size
symbolic (`jax.export.symbolic_shape("b")`), the weights and the class-text
features (the teacher's U_T, also for the student) baked in as constants, so
no text tower runs. The artefact is one uncompressed zip holding
`model.jaxexport` (`Exported.serialize()`) and `metadata.json` (class names,
channel names and the montage that derives them from any file, sampling rate,
window length, band-pass, dataset, role, prediction kind, the stage's
fingerprint and detection settings, and the exporter's jax version): everything `scripts/detect.py` needs.

`load(path)` needs nothing of this package but this module: the training
and model code are imported inside `export_stage` only.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jclip_eeg.errors import DataError

_PROGRAM, _METADATA = "model.jaxexport", "metadata.json"


@dataclasses.dataclass(frozen=True)
class ExportedModel:
  """A loaded artefact: call it on (B, C, T) float32 z-scored windows -> (B, n_classes) probabilities."""
  exported: jax.export.Exported
  metadata: dict[str, Any]

  def __post_init__(self):
    object.__setattr__(self, "_jitted", jax.jit(self.exported.call))  # one compilation per batch size

  def __call__(self, x: np.ndarray) -> np.ndarray:
    return np.asarray(self._jitted(jnp.asarray(x, jnp.float32)))


def export_program(stage_dir: str | Path) -> tuple[jax.export.Exported, dict[str, Any]]:
  """(the traced inference of a finished stage, its metadata); batch size symbolic."""
  from jclip_eeg.runs import stage as stage_lib  # the model code stays out of `load`'s imports
  stage = stage_lib.load(stage_dir)
  meta = stage.metadata() | {"jax_version": jax.__version__}
  predictor = stage.predictor()

  # Traced unjitted: the jitted call would take every weight as an operand and bake all of them
  # in, unused ones included (the teacher's frozen BERT: ~90 MB).
  def infer(x: jax.Array) -> jax.Array:
    return predictor.unjitted(x)

  batch, = jax.export.symbolic_shape("b")
  shape = jax.ShapeDtypeStruct((batch, len(meta["channel_names"]), meta["window_samples"]), jnp.float32)
  return jax.export.export(jax.jit(infer))(shape), meta


def export_stage(stage_dir: str | Path, out: str | Path, *, progress: bool = False) -> dict[str, int]:
  """Exports a finished stage (W/teacher or W/student) to the artefact `out`.

  Serialising needs the `flatbuffers` package (jax's serialisation format).
  `progress` shows a bar over the two slow parts: loading and tracing, serialising.

  Returns:
    sizes in bytes: `artefact` (the zip), `program` (the serialised module)
    and `checkpoint` (the stage's checkpoint directory, for comparison).
  """
  import tqdm  # not needed to load an artefact
  with tqdm.tqdm(total=2, desc="export", unit="step", disable=not progress) as bar:
    exported, meta = export_program(stage_dir)
    bar.update()
    program = exported.serialize()
    bar.update()
  out = Path(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  partial = out.with_name(out.name + ".partial")
  with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
    archive.writestr(_PROGRAM, bytes(program))
    archive.writestr(_METADATA, json.dumps(meta, indent=2))
  partial.replace(out)
  checkpoint = sum(f.stat().st_size for f in (Path(stage_dir) / "checkpoints").rglob("*") if f.is_file())
  return {"artefact": out.stat().st_size, "program": len(program), "checkpoint": checkpoint}


def load(path: str | Path) -> ExportedModel:
  """An artefact written by `export_stage`.

  Raises:
    DataError: missing file, or not an artefact of this exporter.
  """
  path = Path(path)
  if not path.is_file():
    raise DataError(f"{path}: exported model not found")
  try:
    with zipfile.ZipFile(path) as archive:
      program = archive.read(_PROGRAM)
      metadata = json.loads(archive.read(_METADATA))
  except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as error:
    raise DataError(f"{path}: not an exported jclip-eeg model (a zip with {_PROGRAM} and {_METADATA}): "
                    f"{error}") from None
  try:
    exported = jax.export.deserialize(bytearray(program))
  except Exception as error:  # flatbuffers' own errors (struct.error, IndexError, ...) for a damaged program
    raise DataError(f"{path}: its {_PROGRAM} is not a serialised jax.export program ({type(error).__name__}: "
                    f"{error}); export the stage again") from None
  if not isinstance(metadata, dict):
    raise DataError(f"{path}: its {_METADATA} is not a JSON object; export the stage again")
  return ExportedModel(exported, metadata)
