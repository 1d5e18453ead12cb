"""Montages: the channels a model reads, and how each EDF file's stored signals give them.

A `Montage` names its channels and knows two ways to get them from a file:
* pick stored channels (`picks`, matched by `normalise`): CHB-MIT's bipolar
  labels, a referential file's electrodes;
* compute a linear combination of referential electrodes (`electrodes`,
  `weights`): a bipolar derivation A-B = A - B, a common average Ai - mean(A).
`derive(labels)` chooses per file: picking when the file stores every pick,
else computing when it holds every electrode, else it says what is missing. So
one model's input comes from CHB-MIT's bipolar files, TUSZ's `-REF`/`-LE`
files, Siena's `EEG Fp1`, Helsinki's `EEG Fp1-Ref` or SzCORE's `Fp1-Avg` alike.

The montages a reader's `montage` option names (`choose`):
  native     the dataset's own channel list (the paper's configs);
  banana18   the 18 double-banana derivations in epilepsy2bids's names and order
             (`channels.BANANA18`, Fp1-F3 ... T6-O2): picked from bipolar files
             (T7/T3, P7/T5, T8/T4, P8/T6 aliases), computed from referential ones;
  average19  the 19 10-20 electrodes minus their mean (`Fp1-Avg` ..., epilepsy2bids's
             electrode order): referential files only (a bipolar recording cannot be
             re-referenced). Re-averaging a file already in common average changes nothing.

`MontageBlocks` reads a montage's channels from an EDF a sample range at a
time (what streaming detection reads); `read_signals` reads them whole.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

from jclip_eeg.data import edf
from jclip_eeg.data.channels import (
  BANANA18,
  ELECTRODES_10_20,
  distinct_names,
  missing_channels,
  normalise_electrode,
  normalise_pair,
  normalise_referential,
)
from jclip_eeg.data.types import Signals
from jclip_eeg.errors import ConfigError, DataError

NAMES = ("native", "banana18", "average19")
_COMBINE_SAMPLES = 1 << 16  # samples per float64 slice of `Derivation.combine` (~20 MB of float64 for 19 electrodes)


@dataclasses.dataclass(frozen=True)
class Derivation:
  """How one file gives a montage's channels: read the stored signals `picks`, then combine them.

  Attributes:
    picks: normalised labels of the stored signals to read, in order (a repeat takes the next such signal).
    normalise: maps a stored label to the form of `picks` (module-level, so it pickles).
    weights: (C, len(picks)) float64, channels = weights @ picked; None when the picks are the channels.
  """
  picks: tuple[str, ...]
  normalise: Callable[[str], str]
  weights: np.ndarray | None = dataclasses.field(default=None, compare=False)

  def combine(self, picked: np.ndarray) -> np.ndarray:
    """(len(picks), T) picked signals -> (C, T) float32 montage channels.

    In float64, then rounded: a float32 matmul's summation order follows the BLAS blocking, which depends on
    T and the CPU, so a block read would differ from the whole recording's read in the last bit. A
    `_COMBINE_SAMPLES` slice at a time, so a day-long recording needs no float64 copy of itself.
    """
    if self.weights is None:
      return picked
    channels = np.empty((len(self.weights), picked.shape[1]), np.float32)
    for start in range(0, picked.shape[1], _COMBINE_SAMPLES):
      part = slice(start, start + _COMBINE_SAMPLES)
      channels[:, part] = self.weights @ picked[:, part].astype(np.float64)
    return channels


@dataclasses.dataclass(frozen=True)
class Montage:
  """A model's input channels and the two ways of getting them from a file (module docstring).

  Attributes:
    name: "native", "banana18" or "average19": the `montage` option that chose it.
    channel_names: the channels it gives, in order (distinct).
    picks: normalised labels of stored channels that are the channels themselves (may repeat); () when
      they must be computed.
    normalise: maps a stored label to the form of `picks`; module-level so it pickles.
    electrodes: normalised referential electrodes the channels are computed from; () when they cannot be.
    weights: one row per channel of weights over `electrodes`.
  """
  name: str
  channel_names: tuple[str, ...]
  picks: tuple[str, ...] = ()
  normalise: Callable[[str], str] = normalise_referential
  electrodes: tuple[str, ...] = ()
  weights: tuple[tuple[float, ...], ...] = ()

  def derive(self, labels: Sequence[str]) -> Derivation | str:
    """How a file with the stored `labels` gives the channels, or why it cannot (what it lacks)."""
    if self.picks and not missing_channels(labels, self.picks, self.normalise):
      return Derivation(self.picks, self.normalise)
    if self.electrodes and not missing_channels(labels, self.electrodes, normalise_referential):
      return Derivation(self.electrodes, normalise_referential, np.asarray(self.weights, np.float64))
    return self._missing(labels)

  def _missing(self, labels: Sequence[str]) -> str:
    """What a file with `labels` lacks: the electrodes when it holds some of them (a referential file),
    else the channels to pick."""
    has = f"the file has {list(labels)}"
    electrodes = set(self.electrodes)
    referential = {normalise_referential(label) for label in labels} & electrodes
    if self.picks and not referential:
      return f"missing channel(s) {missing_channels(labels, self.picks, self.normalise, self.channel_names)}; {has}"
    missing = missing_channels(labels, self.electrodes, normalise_referential)
    bipolar = any(len(pair) == 2 and set(pair) <= electrodes for pair in (normalise_pair(x).split("-") for x in labels))
    hint = " (a bipolar recording cannot be re-referenced to their average)" if bipolar and not referential else ""
    return f"montage {self.name}: missing electrode(s) {missing}{hint}; {has}"


def referential(name: str, electrodes: Sequence[str]) -> Montage:
  """Referential electrodes picked as stored (whatever their reference), named as given."""
  return Montage(name, tuple(electrodes), picks=tuple(map(normalise_electrode, electrodes)),
                 normalise=normalise_referential)


def bipolar(name: str, labels: Sequence[str]) -> Montage:
  """Derivations `A-B` picked from files that store them, else computed as A - B from referential electrodes.

  A label given twice (CHB-MIT's `T8-P8`) is two channels, named `L-0`, `L-1`.
  """
  pairs = [tuple(normalise_pair(label).split("-")) for label in labels]
  if any(len(pair) != 2 for pair in pairs):
    raise ConfigError(f"montage {name}: every channel must be one bipolar pair A-B, got {list(labels)}")
  electrodes = tuple(dict.fromkeys(e for pair in pairs for e in pair))
  weights = tuple(tuple(float(e == a) - float(e == b) for e in electrodes) for a, b in pairs)
  return Montage(name, distinct_names(labels), picks=tuple("-".join(pair) for pair in pairs),
                 normalise=normalise_pair, electrodes=electrodes, weights=weights)


def common_average(name: str, electrodes: Sequence[str]) -> Montage:
  """Each electrode minus the mean of all of them, named `<electrode>-Avg` (SzCORE's labels)."""
  n = len(electrodes)
  weights = tuple(tuple(float(i == j) - 1.0 / n for j in range(n)) for i in range(n))
  return Montage(name, tuple(f"{e}-Avg" for e in electrodes),
                 electrodes=tuple(map(normalise_electrode, electrodes)), weights=weights)


BANANA = bipolar("banana18", BANANA18)
AVERAGE = common_average("average19", ELECTRODES_10_20)


def choose(name: str, native: Montage | None, dataset: str) -> Montage:
  """The montage a reader's `montage` option names; `native` is the dataset's own (None: it has none).

  Raises:
    ConfigError: an unknown name, or "native" for a dataset without a channel list of its own.
  """
  if name not in NAMES:
    raise ConfigError(f"{dataset}.montage: {name!r}; expected one of {NAMES}")
  if name == "banana18":
    return BANANA
  if name == "average19":
    return AVERAGE
  if native is None:
    raise ConfigError(f"{dataset}.montage: 'native', but {dataset} has no channel list of its own; "
                      "choose banana18 or average19")
  return native


def derivation(path: str | os.PathLike, labels: Sequence[str], montage: Montage) -> Derivation:
  """`montage.derive(labels)` of the file at `path`; DataError naming the file and what it lacks."""
  found = montage.derive(labels)
  if isinstance(found, str):
    raise DataError(f"{path}: {found}")
  return found


class MontageBlocks(edf.EdfBlocks):
  """A montage's channels of one EDF file, readable a sample range at a time (`edf.EdfBlocks`).

  Attributes (besides EdfBlocks'):
    montage: the montage read; channel_names: its channel names;
    derivation: how this file gives them.

  Raises:
    DataError: as `edf.EdfBlocks`, or the file cannot give the montage (naming what it lacks).
  """

  def __init__(self, path: str | os.PathLike, montage: Montage):
    self.montage = montage
    self.channel_names = montage.channel_names
    self.derivation = derivation(path, edf.read_header(path).labels, montage)
    super().__init__(path, self.derivation.picks, normalise=self.derivation.normalise)

  def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Samples [start, stop) of every montage channel: (C, stop - start) float32 µV."""
    return self.derivation.combine(super().read(start, stop))


def read_signals(path: str | os.PathLike, montage: Montage) -> Signals:
  """The whole recording at `path` in `montage`: (C, T) float32 µV at the file's rate, named as the montage's."""
  blocks = MontageBlocks(path, montage)
  return Signals(blocks.read(), blocks.sfreq, montage.channel_names)


def from_rows(data: np.ndarray, labels: Sequence[str], montage: Montage, source: str | os.PathLike) -> np.ndarray:
  """A montage's (C, T) channels from (len(labels), T) rows labelled by distinct `labels` (a segment file)."""
  found = derivation(source, labels, montage)
  normalised = [found.normalise(label) for label in labels]
  return found.combine(data[[normalised.index(pick) for pick in found.picks]])
