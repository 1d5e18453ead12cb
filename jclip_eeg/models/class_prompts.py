"""Descriptive clinical sentences per class: the text side of the CLIP alignment.

The sentences describe what a 1-s EEG window of each class looks like without
naming the label (paper III-A: prompts free of explicit classification labels
prevent label leakage). A class's text feature is the mean of the normalised
embeddings of its sentences.
"""

from __future__ import annotations

from collections.abc import Sequence

from jclip_eeg.errors import ConfigError

_BACKGROUND = (
    "continuous low to moderate amplitude mixed-frequency activity without rhythmic evolution",
    "a symmetric posterior alpha rhythm with scattered low-voltage beta and no epileptiform discharges",
    "irregular non-evolving activity with occasional eye blinks and muscle artefacts",
)
_ICTAL = (
    "rhythmic evolving high-amplitude discharges spreading across several channels",
    "sustained sharp waves and spike-wave runs that build up in frequency and amplitude",
)
_NEONATAL_BACKGROUND = (
    "a continuous or discontinuous newborn background of mixed slow waves with age-appropriate variability",
    "irregular delta and theta activity with brief bursts and no sustained repetitive pattern",
)
_NEONATAL_ICTAL = (
    "a sudden repetitive rhythmic pattern of sharp waves that evolves in frequency and morphology",
    "focal rhythmic delta or spike trains, clearly different from the surrounding newborn background",
)
_FOCAL = (
    "rhythmic activity arising in a few neighbouring electrodes over one hemisphere, evolving in frequency",
)
_GENERALISED = (
    "bilateral synchronous rhythmic discharges appearing at the same time across all channels",
)
_SIMPLE_PARTIAL = (
    "a small focal rhythmic discharge confined to a few electrodes, little spread, awareness preserved",
)
_COMPLEX_PARTIAL = (
    "focal rhythmic theta or delta activity, often temporal, evolving and spreading with impaired awareness",
)
_ABSENCE = (
    "generalised three per second spike-and-wave bursts with abrupt onset and offset",
)
_TONIC = (
    "generalised low-voltage fast activity or an abrupt flattening obscured by sustained muscle artefact",
)
_TONIC_CLONIC = (
    "generalised fast rhythmic activity turning into repeated high-amplitude spike bursts with heavy "
    "muscle and movement artefact",
)
_EEG_ONLY = (
    "an evolving rhythmic discharge on the recording without clinical signs or movement artefact",
)
_VIDEO_ONLY = (
    "clinical behaviour such as staring or automatisms while the scalp recording stays close to its "
    "usual background apart from movement artefact",
)

_CHBMIT = {"normal": _BACKGROUND, "seizure": _ICTAL}
_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "chbmit": _CHBMIT,
    "synthetic": _CHBMIT,
    "siena": _CHBMIT,  # adults' focal seizures, as CHB-MIT's
    "bids": _CHBMIT,   # whatever epilepsy2bids converted: seizure rows `sz*` or background
    "tusz": {
        "bckg": _BACKGROUND, "fnsz": _FOCAL, "gnsz": _GENERALISED, "spsz": _SIMPLE_PARTIAL,
        "cpsz": _COMPLEX_PARTIAL, "absz": _ABSENCE, "tnsz": _TONIC, "tcsz": _TONIC_CLONIC,
        "seiz": _ICTAL,  # the binary TUSZ task (csv_bi labels bckg / seiz)
    },
    "neonatal": {"normal": _NEONATAL_BACKGROUND, "seizure": _NEONATAL_ICTAL},
    "aubmc": {
        "normal": _BACKGROUND, "complex_partial": _COMPLEX_PARTIAL, "electrographic": _EEG_ONLY,
        "video_only": _VIDEO_ONLY,
    },
}


def class_prompts(dataset: str, class_names: Sequence[str]) -> list[list[str]]:
  """The sentences of each class, in `class_names` order (one list per class, >= 1 sentence).

  Raises:
    ConfigError: unknown dataset, or a class that has no sentences for it.
  """
  if dataset not in _TABLES:
    raise ConfigError(f"data.dataset: no class sentences for dataset {dataset!r}; known: {sorted(_TABLES)}")
  table = _TABLES[dataset]
  missing = [name for name in class_names if name not in table]
  if missing:
    raise ConfigError(f"data.class_names: dataset {dataset!r} has no sentences for classes {missing}; "
                      f"classes with sentences: {sorted(table)}")
  return [list(table[name]) for name in class_names]
