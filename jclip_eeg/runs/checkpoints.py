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

Damaged checkpoints (a truncated or deleted file, unreadable metrics) are
found where they are read. `resume` restores the newest intact checkpoint,
with a warning naming the damaged ones, which it moves to the sibling folder
`<directory>.broken/`; since the best checkpoint is the one evaluated at the
end, it must be readable too, else training resumes from before it (the
steps after the resume point are trained again, exactly as the first time).
When no checkpoint is intact, `UnreadableCheckpoint` names each one and
nothing is moved. Readers (`read_only=True`: evaluation, export, detection)
never change the folder; a damaged file is one `UnreadableCheckpoint` line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jclip_eeg.errors import DataError

SELECTION_METRIC = "f1_macro"
BROKEN_SUFFIX = ".broken"  # damaged checkpoints are moved to <directory>.broken/<step>
_STATE, _DATA = "state", "data"  # the two items of a checkpoint
_WEIGHT_FIELDS = ("params", "rest")  # the TrainState fields inference needs
_METRICS_FILE = Path("metrics") / "metrics"  # Orbax's JSON of a step's metrics
_REASON_CHARS = 240
_log = logging.getLogger(__name__)


class UnreadableCheckpoint(DataError):
  """A checkpoint step that cannot be read (damaged or missing files, or another model's): names its folder."""

  def __init__(self, step_dir: str | os.PathLike, reason: str):
    super().__init__(f"{step_dir}: unreadable checkpoint ({reason})")
    self.step_dir, self.reason = Path(step_dir), reason


def _reason(error: BaseException) -> str:
  """The first line of a (TensorStore's 150-line) error message, shortened, with its type."""
  first = (str(error).strip().splitlines() or [""])[0].split(" See full TensorStore details")[0]
  first = first if len(first) <= _REASON_CHARS else first[:_REASON_CHARS] + "..."
  return f"{type(error).__name__}: {first}"


@contextlib.contextmanager
def _without_orbax_warnings(*fragments: str) -> Iterator[None]:
  """Hides Orbax's warnings containing one of `fragments` (notes about what we asked for, not problems)."""
  def keep(record: logging.LogRecord) -> bool:
    return not any(fragment in record.getMessage() for fragment in fragments)
  logger = logging.getLogger("absl")
  logger.addFilter(keep)
  try:
    yield
  finally:
    logger.removeFilter(keep)


def _is_closed_loop_error(error: BaseException | None) -> bool:
  return isinstance(error, RuntimeError) and str(error) == "Event loop is closed"


def _is_orbax_read(unraisable: Any) -> bool:
  """An unraisable error of one of Orbax's read coroutines (a read of a damaged file that nobody awaits)."""
  code = getattr(unraisable.object, "cr_code", None)
  return code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename


def _hide_closed_loop_errors() -> None:
  """Keeps the late errors of a failed restore off stderr.

  When one read of a damaged checkpoint fails, Orbax's event loop closes while
  TensorStore finishes the other reads; each of their callbacks then raises
  "Event loop is closed" in a background thread, and reads that failed too
  are reported when their coroutines are collected (hundreds of tracebacks).
  Those errors, and only those, are dropped from then on: the checkpoint is
  already known to be damaged.
  """
  if getattr(threading.excepthook, "hides_closed_loop_errors", False):
    return
  thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook

  def on_thread_error(args: threading.ExceptHookArgs) -> None:
    if not _is_closed_loop_error(args.exc_value):
      thread_hook(args)

  def on_unraisable(unraisable: Any) -> None:
    if not (_is_closed_loop_error(unraisable.exc_value) or _is_orbax_read(unraisable)):
      unraisable_hook(unraisable)

  on_thread_error.hides_closed_loop_errors = True
  threading.excepthook, sys.unraisablehook = on_thread_error, on_unraisable


def _step_dirs(directory: Path) -> list[Path]:
  return sorted((p for p in directory.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) \
      if directory.is_dir() else []


def unreadable_metrics(directory: str | os.PathLike) -> dict[int, str]:
  """{step: reason} of the checkpoints in `directory` whose metrics file does not parse (Orbax reads them all
  when it opens the folder, and fails on the first bad one)."""
  problems = {}
  for step_dir in _step_dirs(Path(directory)):
    path = step_dir / _METRICS_FILE
    try:
      if path.exists():
        json.loads(path.read_text())
    except (OSError, ValueError) as error:
      problems[int(step_dir.name)] = f"{_METRICS_FILE}: {_reason(error)}"
  return problems


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
  """The checkpoints of one stage in `directory` (created if absent, unless `read_only`).

  Args:
    directory: where the step folders go.
    keep: how many of the latest checkpoints to keep (the best is kept too).
    async_save: write in a background thread while training goes on.
    read_only: never write, move or delete anything (finished stages being read).
  Raises:
    UnreadableCheckpoint: with `read_only`, a step's metrics file does not
      parse (otherwise that step is set aside with a warning, as by `resume`).
  """

  def __init__(self, directory: str | os.PathLike, *, keep: int = 3, async_save: bool = True,
               read_only: bool = False):
    def score(metrics: Mapping[str, float]) -> float:
      return metrics[SELECTION_METRIC]

    self.directory = os.path.abspath(directory)  # Orbax wants absolute paths
    self._damaged = unreadable_metrics(self.directory)  # set aside now: Orbax cannot open the folder with them
    if read_only and self._damaged:
      step, reason = next(iter(self._damaged.items()))  # the oldest
      raise UnreadableCheckpoint(Path(self.directory) / str(step), reason)
    self._set_aside(self._damaged)
    policy = checkpoint_managers.AnyPreservationPolicy([
        checkpoint_managers.LatestN(n=keep),
        checkpoint_managers.BestN(get_metric_fn=score, n=1, keep_checkpoints_without_metrics=False),
    ])
    # best_fn makes Orbax store each step's metrics; both sort stably, so ties go to the later step.
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, best_fn=score, best_mode="max",
                                           enable_async_checkpointing=async_save, create=not read_only,
                                           read_only=read_only, save_interval_steps=0 if read_only else 1)
    with _without_orbax_warnings("is read only"):
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
    Raises UnreadableCheckpoint when the checkpoint is damaged or does not fit `template` (another model/config).
    """
    items = {_STATE: ocp.args.StandardRestore(_abstract(template))}
    if iterator is not None:
      items[_DATA] = grain.checkpoint.CheckpointRestore(iterator)
    try:
      return self._manager.restore(step, args=ocp.args.Composite(**items)).state
    except Exception as error:  # TensorStore raises bare Exceptions for damaged files
      _hide_closed_loop_errors()
      raise UnreadableCheckpoint(Path(self.directory) / str(step),
                                 f"damaged, or of another model/config: {_reason(error)}") from None

  def resume(self, template: Any, iterator: grain.DatasetIterator) -> tuple[int | None, Any]:
    """(step, state) of the newest intact checkpoint, `iterator` moved to its position; (None, template) if none.

    Damaged checkpoints are set aside with a warning (module docstring).
    Raises:
      UnreadableCheckpoint: there are checkpoints but none is intact (each is named; nothing is moved).
    """
    steps = self._manager.all_steps()
    broken = {s: "no validation metrics" for s in steps if SELECTION_METRIC not in self.metrics(s)}
    broken |= self._damaged  # any of them may have been the best
    while True:
      candidates = [s for s in steps if not broken or s < min(broken)]
      if not candidates:
        break
      step = max(candidates)
      best = max(candidates, key=lambda s: (self.metrics(s)[SELECTION_METRIC], s))
      try:
        state = self.restore(step, template, iterator)
        if best != step:
          self.restore(best, template)  # the model evaluated on the test fold at the end
      except UnreadableCheckpoint as error:
        broken[int(error.step_dir.name)] = error.reason
        continue
      self._drop_after(step, broken)
      return step, state
    if broken:
      intact = sorted(set(steps) - set(broken))
      after = (f"; steps {intact} are intact but come after damaged step {min(broken)}, which may be the best so "
               "far (the model scored on the test fold), so resuming from them could select another model"
               if intact else "")
      raise UnreadableCheckpoint(self.directory, "no intact checkpoint to resume from exactly: " + "; ".join(
          f"step {s}: {reason}" for s, reason in sorted(broken.items())) + after + f". Remove {self.directory} "
          "to train this stage from the start")
    return None, template

  def _drop_after(self, step: int, broken: Mapping[int, str]) -> None:
    """Sets the broken steps aside and deletes the intact ones after `step` (they are trained again)."""
    if not broken:
      return
    self._set_aside(broken)
    for later in _step_dirs(Path(self.directory)):
      if int(later.name) > step:
        shutil.rmtree(later)
    self._manager.reload()
    _log.warning("resuming from step %d; the steps after it are trained again", step)

  def _set_aside(self, broken: Mapping[int, str]) -> None:
    """Moves the damaged steps still in the folder to `<directory>.broken/`, warning with the reason of each."""
    present = {step: reason for step, reason in broken.items() if (Path(self.directory) / str(step)).is_dir()}
    if not present:
      return
    aside = Path(self.directory + BROKEN_SUFFIX)
    aside.mkdir(exist_ok=True)
    for step, reason in sorted(present.items()):
      target = aside / str(step)
      n = 1
      while target.exists():
        target, n = aside / f"{step}.{n}", n + 1
      os.replace(Path(self.directory) / str(step), target)
      _log.warning("damaged checkpoint %s/%d (%s), moved to %s", self.directory, step, reason, target)

  def restore_weights(self, step: int, template: Sequence[Any]) -> tuple[Any, ...]:
    """The model weights `(params, rest)` saved at `step`, shaped and placed like `template`.

    Only those two fields of the saved state are read (an Orbax partial
    restore): no optimiser state, no step count, no iterator.
    Raises UnreadableCheckpoint when the checkpoint is damaged or its weights are not exactly the template's.
    """
    abstract = dict(zip(_WEIGHT_FIELDS, _abstract(tuple(template))))
    step_dir = Path(self.directory) / str(step)
    checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler(**{_STATE: ocp.PyTreeCheckpointHandler()}))
    restore = ocp.args.PyTreeRestore(item=abstract, partial_restore=True,
                                     restore_args=ocp.checkpoint_utils.construct_restore_args(abstract))
    try:
      with _without_orbax_warnings("could not be restored"):  # the items a partial restore leaves out
        saved = checkpointer.metadata(step_dir).item_metadata[_STATE]
        restored = checkpointer.restore(step_dir, args=ocp.args.Composite(**{_STATE: restore}))[_STATE]
    except Exception as error:  # TensorStore raises bare Exceptions for damaged files
      _hide_closed_loop_errors()
      raise UnreadableCheckpoint(step_dir, f"no readable model weights: {_reason(error)}") from None
    finally:
      checkpointer.close()
    wanted = _leaf_paths(abstract)
    on_disk = _leaf_paths({field: saved[field] for field in _WEIGHT_FIELDS})
    if on_disk != wanted or _leaf_paths(restored, arrays_only=True) != wanted:
      raise UnreadableCheckpoint(step_dir, f"no model weights of this config (missing "
                                 f"{sorted(wanted - on_disk)[:5]}, unexpected {sorted(on_disk - wanted)[:5]})")
    return tuple(restored[field] for field in _WEIGHT_FIELDS)

  def wait(self) -> None:
    """Blocks until background saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
