"""EEG Channel Activation Maps (ECAM, paper Fig. 9): which channels drive each class decision.

Attribution: gradient x input at the EEG, summed over time, per channel.
For window x (C, T) and class c the score of channel i is

  s_i = sum_t x[i, t] * d z_c / d x[i, t],   z_c = logit_c - mean_k logit_k,

with z the `config.model.prediction` logits in eval mode. The Conformer's
first layer is a temporal convolution applied to every channel separately
(kernel 1 x K, no mixing), so x[i] -> A[i] (the spatial convolution's input,
(T', F)) is linear per channel and s_i equals sum_{t, f} A[i, t, f] * dz_c/dA[i, t, f]
without the filter biases: Grad-CAM's gradient x activation at the spatial
convolution, resolved per EEG channel. Computing it at the input needs no hook
into the model and works for the teacher and the student alike. The logit is
centred (minus the mean over classes) because the softmax only sees logit
differences; for two classes z_seizure is half the log-odds.

A class map averages ReLU(s) over the windows of that class with target c =
their own class (Grad-CAM keeps the positive evidence), e.g. the seizure map
over seizure windows and the normal map over normal windows; `scale` divides
every map by its maximum for display.

Scalp positions: electrodes from MNE's 10-20 template (`colin27_1020`, called
`standard_1020` before MNE 1.13; it holds FT9/FT10 and both the old T3/T4/T5/T6
and the new T7/T8/P7/P8 names); a bipolar channel (`FP1-F7`) sits at the
midpoint of its two electrodes, a referential one at its electrode. Channels
at the same place (CHB-MIT's repeated `T8-P8-0` / `T8-P8-1`, and `P7-T7` beside
`T7-P7`) are averaged into one sensor for the topomap.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import mne
import numpy as np
from flax import nnx

from jclip_eeg.data import loader
from jclip_eeg.data.channels import normalise_referential
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import DataError
from jclip_eeg.models.clip import prediction_logits
from jclip_eeg.runs import inference
from jclip_eeg.runs.stage import FinishedStage

_MONTAGES = ("colin27_1020", "standard_1020")
_REPEAT_SUFFIX = re.compile(r"-\d+$")  # `distinct_names` marks repeated labels `L-0`, `L-1`


# ============================================================================= attribution


def _target_logits(graphdef: nnx.GraphDef, mode: str, weights: inference.Weights, text_features: jax.Array,
                   x: jax.Array, target: jax.Array) -> jax.Array:
  """(B,) centred logit z_target of each window x (B, C, T), eval mode (module docstring)."""
  model = inference.merge(graphdef, weights)
  logits = prediction_logits(model.clip_head(model.encode_eeg(x), text_features), mode)
  centred = logits - logits.mean(axis=-1, keepdims=True)
  return jnp.take_along_axis(centred, target[:, None], axis=-1)[:, 0]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _channel_scores(graphdef: nnx.GraphDef, mode: str, weights: inference.Weights, text_features: jax.Array,
                    x: jax.Array, target: jax.Array) -> jax.Array:
  """(B, C) gradient x input of the centred target logit, summed over time (module docstring)."""
  # Windows are independent in eval mode, so the gradient of the sum is each window's own gradient.
  total = lambda x: _target_logits(graphdef, mode, weights, text_features, x, target).sum()
  return (x * jax.grad(total)(x)).sum(axis=-1)


def predict_logits(stage: FinishedStage, x: jax.Array, target: jax.Array) -> np.ndarray:
  """(B,) centred logit of class target (B,) for windows x (B, C, T): the quantity ECAM attributes."""
  return np.asarray(jax.jit(_target_logits, static_argnums=(0, 1))(
      stage.graphdef, stage.config.model.prediction, stage.weights, stage.text_features, x, jnp.asarray(target)))


def channel_scores(stage: FinishedStage, store: str, rows: np.ndarray, *,
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
  """Per-window channel scores of the windows `rows` of `store` for their own class.

  Returns:
    (y (n,) int labels, scores (n, C) float32, gradient x input of each
    window's own class logit; positive = evidence for that class).
  """
  if len(rows) == 0:
    raise DataError(f"{store}: no windows to attribute")
  ys, scores = [], []
  mode = stage.config.model.prediction
  for batch in loader.eval_batches(store, rows, batch_size=batch_size):
    keep = batch["valid"]
    x, y = jnp.asarray(batch["x"][keep]), jnp.asarray(batch["y"][keep])
    scores.append(np.asarray(_channel_scores(stage.graphdef, mode, stage.weights, stage.text_features, x, y)))
    ys.append(np.asarray(batch["y"][keep]))
  return np.concatenate(ys), np.concatenate(scores)


@dataclasses.dataclass(frozen=True)
class Ecam:
  """Channel activation maps of one model.

  Attributes:
    class_names: K class names.
    channel_names: C store channel names.
    maps: (K, C) float64 mean ReLU(score) over the windows of each class (NaN
      for a class without windows).
    n_windows: (K,) windows averaged per class.
  """
  class_names: tuple[str, ...]
  channel_names: tuple[str, ...]
  maps: np.ndarray
  n_windows: np.ndarray

  def scaled(self) -> np.ndarray:
    """(K, C) maps divided by their own maximum (so each lies in [0, 1])."""
    peak = np.fmax.reduce(self.maps, axis=1, keepdims=True)  # NaN-free maximum, NaN for an empty class
    return self.maps / np.where(peak > 0, peak, 1.0)

  def ranking(self, class_index: int) -> list[str]:
    """Channel names of class `class_index`, most important first."""
    return [self.channel_names[i] for i in np.argsort(-self.maps[class_index], kind="stable")]

  def to_json(self) -> dict[str, Any]:
    return {"class_names": list(self.class_names), "channel_names": list(self.channel_names),
            "n_windows": self.n_windows.tolist(),
            "maps": [[None if np.isnan(v) else float(v) for v in row] for row in self.maps]}


def class_maps(y: np.ndarray, scores: np.ndarray, class_names: Sequence[str],
               channel_names: Sequence[str]) -> Ecam:
  """Averages ReLU(scores) (n, C) over the windows of each class y (n,)."""
  positive = np.maximum(scores, 0.0)
  n_windows = np.bincount(y, minlength=len(class_names))
  maps = np.full((len(class_names), scores.shape[1]), np.nan)
  for k in np.flatnonzero(n_windows):
    maps[k] = positive[y == k].mean(axis=0)
  return Ecam(tuple(class_names), tuple(channel_names), maps, n_windows)


def compute_ecam(stage: FinishedStage, store: str, rows: np.ndarray, *, max_windows_per_class: int = 2000,
                 seed: int = 0, batch_size: int = 256) -> Ecam:
  """The ECAM of a stage over the windows `rows` of `store` (e.g. its test part).

  At most `max_windows_per_class` windows per class are used (a fixed random
  draw, `seed`), which bounds the cost on large test folds.
  """
  opened = EpochStore(store)
  y = np.asarray(opened.y)[rows]
  rng = np.random.default_rng(seed)
  picked = [rng.permutation(rows[y == k])[:max_windows_per_class] for k in np.unique(y)]
  labels, scores = channel_scores(stage, store, np.sort(np.concatenate(picked)), batch_size=batch_size)
  return class_maps(labels, scores, opened.class_names, opened.channel_names)


# ============================================================================= scalp positions


def _template() -> mne.channels.DigMontage:
  available = mne.channels.get_builtin_montages()
  name = next(n for n in _MONTAGES if n in available)
  return mne.channels.make_standard_montage(name)


def _electrodes(channel: str) -> list[str]:
  """`FP1-F7` -> ["FP1", "F7"], `T8-P8-1` -> ["T8", "P8"], `FP1` and `Fp1-Avg` -> ["FP1"] (a reference suffix
  is no electrode: `channels.normalise_referential`)."""
  return normalise_referential(_REPEAT_SUFFIX.sub("", channel.strip())).split("-")


def topomap_info(channel_names: Sequence[str]) -> tuple[mne.Info, np.ndarray]:
  """MNE Info with one EEG sensor per distinct channel position, and the (C,) sensor of each channel.

  Bipolar channels are placed at the midpoint of their two electrodes (module docstring).

  Raises:
    DataError: a channel names an electrode that the 10-20 template lacks.
  """
  montage = _template()
  positions = {name.upper(): pos for name, pos in montage.get_positions()["ch_pos"].items()}
  sensors: dict[frozenset[str], tuple[str, np.ndarray]] = {}  # electrodes -> (name, position)
  sensor_of = []
  for channel in channel_names:
    electrodes = _electrodes(channel)
    unknown = [e for e in electrodes if e not in positions]
    if unknown:
      raise DataError(f"ECAM: channel {channel!r} names electrode(s) {unknown} that are not in MNE's 10-20 "
                      "template; only 10-20 (bipolar or referential) channels can be drawn on the scalp")
    key = frozenset(electrodes)
    sensors.setdefault(key, ("-".join(electrodes), np.mean([positions[e] for e in electrodes], axis=0)))
    sensor_of.append(list(sensors).index(key))
  fiducials = montage.get_positions()
  ch_pos = dict(sensors.values())
  dig = mne.channels.make_dig_montage(ch_pos=ch_pos, nasion=fiducials["nasion"], lpa=fiducials["lpa"],
                                      rpa=fiducials["rpa"], coord_frame=fiducials["coord_frame"])
  info = mne.create_info(list(ch_pos), sfreq=1.0, ch_types="eeg")
  info.set_montage(dig)
  return info, np.asarray(sensor_of)


def per_sensor(values: np.ndarray, sensor_of: np.ndarray) -> np.ndarray:
  """(C,) channel values -> (n_sensors,) means over channels sharing a sensor."""
  totals = np.bincount(sensor_of, weights=values)
  return totals / np.bincount(sensor_of)
