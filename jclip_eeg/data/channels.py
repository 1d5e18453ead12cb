"""Channel lists of the four datasets and the label normalisers that match EDF labels to them.

EDF files name the same electrode in many ways (`EEG FP1-REF`, `EEG Fp1-Ref`,
`EEG FP1-LE`, `T7` vs `T3`). Readers pick channels by *normalised* label: the
file's labels and the dataset's list both go through the same normaliser, so a
recording whose montage changes between files (CHB-MIT) or whose labels differ
in case or reference suffix (TUSZ, Helsinki) still yields the same channel
order.
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

# Modified combinatorial nomenclature (T7/T8/P7/P8) -> the old names used above.
_NEW_TO_OLD = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
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


def normalise_bipolar(label: str) -> str:
  """CHB-MIT label -> upper case without padding (`fp1-f7 ` -> `FP1-F7`)."""
  return label.strip().upper()


def normalise_referential(label: str) -> str:
  """Referential EEG label -> 10-20 electrode name with old temporal names.

  `EEG FP1-REF`, `EEG Fp1-Ref`, `EEG FP1-LE`, `Fp1` -> `FP1`; `EEG T7-REF` -> `T3`.
  Labels that are not electrodes (`ECG EKG-REF`, `IBI`) come out upper-cased and
  simply never match a pick.
  """
  name = " ".join(label.upper().split())
  name = name.removeprefix("EEG ").strip()
  name = _REFERENCE_SUFFIX.sub("", name)
  return _NEW_TO_OLD.get(name, name)


def missing_channels(labels: Iterable[str], picks: Sequence[str],
                     normalise: Callable[[str], str]) -> list[str]:
  """Picks (already normalised) that `labels` cannot supply, counting repeats.

  A pick listed twice (CHB-MIT `T8-P8`) needs two channels with that label.
  """
  available = collections.Counter(normalise(label) for label in labels)
  missing = []
  for pick in picks:
    if available[pick] > 0:
      available[pick] -= 1
    else:
      missing.append(pick)
  return missing
