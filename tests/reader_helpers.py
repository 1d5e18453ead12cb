"""Reader test helpers: scan results by id, skip reasons, real-format Siena folders, BIDS folders by epilepsy2bids.

`write_siena(root, ...)` lays out `root/PN00/` with the real seizure list of the
fixtures and Siena-like EDFs (512 Hz, `EEG Fp1` labels plus `EEG Fc1`,
`EKG EKG`, `SPO2` and a channel named `1`), starting at the list's
registration start times. `epilepsy2bids_siena` and `epilepsy2bids_chbmit`
run epilepsy2bids's own converters (the test extra installs it; callers skip
without it): Siena becomes 19-channel common average (`Fp1-Avg` ...), CHB-MIT
(or our synthetic data, same layout) the 18-channel double banana with the
files' own labels, both at 256 Hz with SzCORE `events.tsv` files.
`by_id` and `skip_reason` read a reader's `ScanResult`.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import numpy as np

from jclip_eeg.data.edf import write_edf
from jclip_eeg.data.types import Recording, ScanResult

SIENA_LABELS = ("EEG Fp1", "EEG F3", "EEG C3", "EEG P3", "EEG O1", "EEG F7", "EEG T3", "EEG T5", "EEG Fc1",
                "EEG Fz", "EEG Cz", "EEG Pz", "EEG Fp2", "EEG F4", "EEG C4", "EEG P4", "EEG O2", "EEG F8",
                "EEG T4", "EEG T6", "EKG EKG", "SPO2", "1")
SIENA_SFREQ = 512.0
# Registration start of the fixture's files (Seizures-list-PN00.txt), the EDFs' start times.
SIENA_STARTS = {"PN00-1.edf": (19, 39, 33), "PN00-2.edf": (2, 18, 17), "PN00-3.edf": (18, 15, 44)}


def by_id(result: ScanResult) -> dict[str, Recording]:
  return {r.recording_id: r for r in result.recordings}


def skip_reason(result: ScanResult, name: str) -> str:
  """Why the scan skipped the one file called `name` (asserts there is exactly one)."""
  reasons = [reason for path, reason in result.skipped if Path(path).name == name]
  assert len(reasons) == 1, result.skipped
  return reasons[0]


def siena_signals(seconds: int, seed: int) -> np.ndarray:
  """(len(SIENA_LABELS), seconds * 512) µV of noise, within ±200 µV."""
  rng = np.random.default_rng(seed)
  return np.clip(rng.normal(0.0, 20.0, (len(SIENA_LABELS), int(seconds * SIENA_SFREQ))), -199.0, 199.0)


def write_siena(root: Path, seizure_list: Path, seconds: dict[str, int]) -> Path:
  """`root/PN00/` with the seizure list (the fixture's `Seizures-list-PN00.txt`) and an EDF of `seconds[name]` s
  for each named file."""
  folder = root / "PN00"
  folder.mkdir(parents=True, exist_ok=True)
  shutil.copy(seizure_list, folder / seizure_list.name)
  for seed, (name, length) in enumerate(seconds.items()):
    start = datetime.datetime(2016, 5, 10, *SIENA_STARTS[name])
    write_edf(folder / name, siena_signals(length, seed), SIENA_SFREQ, list(SIENA_LABELS),
              physical_range=(-200.0, 200.0), start=start)
  return root


def epilepsy2bids_siena(siena_root: Path, out: Path) -> Path:
  """epilepsy2bids's Siena conversion of `write_siena`'s folder (it needs a subject_info.csv): common average."""
  from epilepsy2bids.bids.siena import convert2bids
  (siena_root / "subject_info.csv").write_text(
      "patient_id, age_years, gender, seizure, localization, lateralization\nPN00,55,Male,IAS,T,R\n")
  convert2bids.convert(siena_root, out)
  return out


def epilepsy2bids_chbmit(chbmit_root: Path, out: Path) -> Path:
  """epilepsy2bids's CHB-MIT conversion of a CHB-MIT-layout folder (it needs a SUBJECT-INFO): double banana."""
  from epilepsy2bids.bids.chbmit import convert2bids
  cases = sorted(p.name for p in chbmit_root.glob("chb*") if p.is_dir())
  (chbmit_root / "SUBJECT-INFO").write_text("Case\tGender\tAge (years)\n" + "".join(f"{c}\tF\t11\n" for c in cases))
  convert2bids.convert(chbmit_root, out)
  return out
