"""Channel lists (the datasets' own, SzCORE's two montages) and the label normalisers that match EDF labels to them.

EDF files name the same electrode in many ways (`EEG FP1-REF`, `EEG Fp1-Ref`,
`EEG FP1-LE`, `Fp1-Avg`, `EEG Fp1`, `T7` vs `T3`). Readers pick channels by
*normalised* label: the file's labels and the wanted list both go through the
same normaliser, so a recording whose montage changes between files (CHB-MIT)
or whose labels differ in case, reference suffix or temporal names (TUSZ,
Helsinki, Siena, SzCORE) still yields the same channel order. How a montage's
channels are derived from these is `jclip_eeg.data.montages`.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Sequence

# CHB-MIT bipolar double banana, in the order of `chbNN-summary.txt` ("Channels in
# EDF Files"). T8-P8 really is recorded twice; both copies are kept (the paper uses 23).
CHBMIT_LABELS: tuple[str, ...] = (
    "FP1-F7", "F7-T7", "T7-P7", "P7-O1",
    "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
    "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
    "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
    "FZ-CZ", "CZ-PZ",
    "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8", "T8-P8",
)

# The 19 electrodes of the international 10-20 system, old temporal names
# (T3/T4/T5/T6) as canonical; TUSZ, Helsinki neonatal and AUBMC all record them.
TEN_TWENTY: tuple[str, ...] = (
    "FP1", "FP2", "F7", "F3", "FZ", "F4", "F8",
    "T3", "C3", "CZ", "C4", "T4",
    "T5", "P3", "PZ", "P4", "T6",
    "O1", "O2",
)

# SzCORE's montages, in epilepsy2bids's names and order (`Eeg.BIPOLAR_DBANANA`, `Eeg.ELECTRODES_10_20`): the
# 18 double-banana derivations its CHB-MIT conversion writes, and the 19 electrodes of its common-average files
# (`Fp1-Avg` ...).
BANANA18: tuple[str, ...] = (
    "Fp1-F3", "F3-C3", "C3-P3", "P3-O1",
    "Fp1-F7", "F7-T3", "T3-T5", "T5-O1",
    "Fz-Cz", "Cz-Pz",
    "Fp2-F4", "F4-C4", "C4-P4", "P4-O2",
    "Fp2-F8", "F8-T4", "T4-T6", "T6-O2",
)
ELECTRODES_10_20: tuple[str, ...] = (
    "Fp1", "F3", "C3", "P3", "O1", "F7", "T3", "T5", "Fz", "Cz", "Pz",
    "Fp2", "F4", "C4", "P4", "O2", "F8", "T4", "T6",
)

# Modified combinatorial nomenclature (T7/T8/P7/P8) -> the old names used above; `01` (a zero) is a
# misspelt O1 that epilepsy2bids also accepts.
_ALIASES = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6", "01": "O1"}
# Reference suffixes of referential montages: TUSZ `-REF` (AR) and `-LE` (linked
# ears), Helsinki `-Ref`; also common average spellings.
_REFERENCE_SUFFIX = re.compile(r"-(REF|LE|AR|AVG|CAR)$")


def distinct_names(labels: Sequence[str]) -> tuple[str, ...]:
  """Unique channel names for a label list: repeated labels become `L-0`, `L-1`, ...

  E.g. the two CHB-MIT `T8-P8` channels become `T8-P8-0` and `T8-P8-1`; labels
  that occur once are unchanged.
  """
  counts = collections.Counter(labels)
  seen: collections.Counter[str] = collections.Counter()
  names = []
  for label in labels:
    if counts[label] == 1:
      names.append(label)
    else:
      names.append(f"{label}-{seen[label]}")
      seen[label] += 1
  return tuple(names)


def _label(label: str) -> str:
  """Upper case, single spaces, without the `EEG ` type prefix."""
  return " ".join(label.upper().split()).removeprefix("EEG ").strip()


def normalise_electrode(name: str) -> str:
  """10-20 electrode name -> upper case with old temporal names (`T7` -> `T3`, `Fp1` -> `FP1`)."""
  name = name.strip().upper()
  return _ALIASES.get(name, name)


def normalise_pair(label: str) -> str:
  """Bipolar label -> `A-B` of normalised electrodes (`fp1-f7 ` -> `FP1-F7`, `EEG F7-T7` -> `F7-T3`).

  Labels that are not one dash between two names (`--0`, `ECG`) come out upper-cased and never match a pick.
  """
  name = _label(label)
  parts = name.split("-")
  return "-".join(map(normalise_electrode, parts)) if len(parts) == 2 else name


def normalise_referential(label: str) -> str:
  """Referential EEG label -> 10-20 electrode name with old temporal names.

  `EEG FP1-REF`, `EEG Fp1-Ref`, `EEG FP1-LE`, `Fp1-Avg`, `EEG Fp1`, `Fp1` -> `FP1`; `EEG T7-REF` -> `T3`.
  Labels that are not electrodes (`ECG EKG-REF`, `IBI`) come out upper-cased and
  simply never match a pick.
  """
  return normalise_electrode(_REFERENCE_SUFFIX.sub("", _label(label)))


def missing_channels(labels: Iterable[str], picks: Sequence[str], normalise: Callable[[str], str],
                     names: Sequence[str] | None = None) -> list[str]:
  """Picks (already normalised) that `labels` cannot supply, counting repeats, as `names` (default: the picks).

  A pick listed twice (CHB-MIT `T8-P8`) needs two channels with that label.
  """
  available = collections.Counter(normalise(label) for label in labels)
  missing = []
  for pick, name in zip(picks, names or picks):
    if available[pick] > 0:
      available[pick] -= 1
    else:
      missing.append(name)
  return missing
