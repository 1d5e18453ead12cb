"""Orbax checkpoints of one training stage: the TrainState and the Grain iterator, together.

A checkpoint at step s holds
  state: the `steps.TrainState` (step, float32 params, BatchNorm statistics,
    RNG keys and counters, optimiser state), saved with `StandardSave`;
  data: the training iterator's position (`grain.checkpoint.CheckpointSave`),
so restoring both makes batch s + 1 and every dropout mask after it equal to
those of a run that was never interrupted (DESIGN.md verified facts).

Inference reads the model's weights alone (`restore_weights`: the state's
`params` and `rest`, partially restored, with no optimiser state or step to
rebuild). Each checkpoint carries the validation metrics of its step. Kept: the latest
`keep` checkpoints plus the best by validation macro F1 (ties go to the later
step), which is the model evaluated on the test fold and the teacher a
student is distilled from. Saving is asynchronous; a checkpoint becomes
visible only once complete, so a `kill -9` never leaves a half-written one
that a restart would load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jclip_eeg.errors import DataError

SELECTION_METRIC = "f1_macro"
_STATE, _DATA = "state", "data"  # the two items of a checkpoint
_WEIGHT_FIELDS = ("params", "rest")  # the TrainState fields inference needs


def _abstract(state: Any) -> Any:
  """ShapeDtypeStructs (with shardings) of `state`: the restore target."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


def _leaf_paths(tree: Any, arrays_only: bool = False) -> set[str]:
  """"params/eeg/blocks/0/kernel"-style paths of a tree's leaves (only the restored arrays with `arrays_only`)."""
  def name(key: Any) -> str:
    return str(next(getattr(key, a) for a in ("key", "idx", "name") if hasattr(key, a)))
  return {"/".join(map(name, path)) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
          if not arrays_only or isinstance(leaf, jax.Array)}


class Checkpoints:
  """The checkpoints of one stage in `directory` (created if absent).

  Args:
    directory: where the step folders go.
    keep: how many of the latest checkpoints to keep (the best is kept too).
    async_save: write in a background thread while training goes on.
  """

  def __init__(self, directory: str | os.PathLike, *, keep: int = 3, async_save: bool = True):
    def score(metrics: Mapping[str, float]) -> float:
      return metrics[SELECTION_METRIC]

    policy = checkpoint_managers.AnyPreservationPolicy([
        checkpoint_managers.LatestN(n=keep),
        checkpoint_managers.BestN(get_metric_fn=score, n=1, keep_checkpoints_without_metrics=False),
    ])
    # best_fn makes Orbax store each step's metrics; both sort stably, so ties go to the later step.
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, best_fn=score, best_mode="max",
                                           enable_async_checkpointing=async_save, create=True)
    self.directory = os.path.abspath(directory)  # Orbax wants absolute paths
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    """The step with the highest validation macro F1 (the later one on ties), None if none saved."""
    return self._manager.best_step()

  def metrics(self, step: int) -> dict[str, float]:
    """The validation metrics saved with `step`."""
    return dict(self._manager.metrics(step) or {})

  def save(self, state: Any, iterator: grain.DatasetIterator, metrics: Mapping[str, float]) -> None:
    """Saves `state` and `iterator`'s position at `state.step` with `metrics` (needs SELECTION_METRIC)."""
    step = int(jax.device_get(state.step))
    items = {_STATE: ocp.args.StandardSave(state), _DATA: grain.checkpoint.CheckpointSave(iterator)}
    self._manager.save(step, args=ocp.args.Composite(**items), metrics=dict(metrics), force=True)

  def restore(self, step: int, template: Any, iterator: grain.DatasetIterator | None = None) -> Any:
    """The state saved at `step`, shaped and placed like `template`; `iterator` is moved to its position.

    Without `iterator` only the state is read (evaluation, loading a teacher).
    Raises DataError when the checkpoint does not fit `template` (another model config).
    """
    items = {_STATE: ocp.args.StandardRestore(_abstract(template))}
    if iterator is not None:
      items[_DATA] = grain.checkpoint.CheckpointRestore(iterator)
    try:
      return self._manager.restore(step, args=ocp.args.Composite(**items)).state
    except (ValueError, KeyError) as error:
      raise DataError(f"{self.directory}/{step}: checkpoint does not match this model/config ({error}); "
                      "use a fresh workdir for a different config") from error

  def restore_weights(self, step: int, template: Sequence[Any]) -> tuple[Any, ...]:
    """The model weights `(params, rest)` saved at `step`, shaped and placed like `template`.

    Only those two fields of the saved state are read (an Orbax partial
    restore): no optimiser state, no step count, no iterator. DataError when
    the checkpoint is unreadable or its weights are not exactly the template's.
    """
    abstract = dict(zip(_WEIGHT_FIELDS, _abstract(tuple(template))))
    step_dir = Path(self.directory) / str(step)
    checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler(**{_STATE: ocp.PyTreeCheckpointHandler()}))
    restore = ocp.args.PyTreeRestore(item=abstract, partial_restore=True,
                                     restore_args=ocp.checkpoint_utils.construct_restore_args(abstract))
    try:
      saved = checkpointer.metadata(step_dir).item_metadata[_STATE]
      restored = checkpointer.restore(step_dir, args=ocp.args.Composite(**{_STATE: restore}))[_STATE]
    except (ValueError, KeyError, TypeError, FileNotFoundError) as error:
      raise DataError(f"{step_dir}: no readable model weights there ({error})") from None
    wanted = _leaf_paths(abstract)
    on_disk = _leaf_paths({field: saved[field] for field in _WEIGHT_FIELDS})
    if on_disk != wanted or _leaf_paths(restored, arrays_only=True) != wanted:
      raise DataError(f"{step_dir}: no model weights of this config there (missing "
                      f"{sorted(wanted - on_disk)[:5]}, unexpected {sorted(on_disk - wanted)[:5]})")
    return tuple(restored[field] for field in _WEIGHT_FIELDS)

  def wait(self) -> None:
    """Blocks until background saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
