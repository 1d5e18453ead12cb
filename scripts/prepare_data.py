#!/usr/bin/env python
"""Raw EEG dataset -> pre-epoched store of labelled 1-s windows.

  python scripts/prepare_data.py --dataset synthetic --root data/raw/synthetic --out data/synthetic
  python scripts/prepare_data.py --dataset neonatal --root RAW --out DIR --option consensus=majority
  python scripts/prepare_data.py --dataset tusz --root RAW --out DIR --option classes=binary --option splits=train,dev
  python scripts/prepare_data.py --dataset siena --root RAW --out DIR --option montage=banana18
  python scripts/prepare_data.py --dataset bids --root BIDS --out DIR --option montage=average19

Every dataset takes --option montage=native|banana18|average19 (the channels:
the dataset's own, SzCORE's 18-channel double banana, or the 19 10-20
electrodes in common average; jclip_eeg/data/montages.py); bids reads any
folder epilepsy2bids writes (default banana18).

With --dataset synthetic an absent or empty --root is first filled with
generated data. An interrupted run resumes where it stopped when rerun with
the same arguments. Recordings that cannot be used are skipped with a warning
giving the reason, and listed in the store's store.json (--strict makes them
fatal). An existing --out is kept only if it is the same preparation (else
exit 2; --overwrite replaces it); a second preparation of the same --out while
one runs exits 4. Exit codes: jclip_eeg/cli.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from absl import flags

from jclip_eeg import cli
from jclip_eeg.data import datasets, synthetic
from jclip_eeg.data.prepare import DTYPES, existing_preparation, prepare_store
from jclip_eeg.data.windows import RULES
from jclip_eeg.errors import ConfigError


def _options_help() -> str:
  lines = [f"{name}: {option}={text}" for name in datasets.NAMES
           for option, text in datasets.option_help(name).items()]
  return "A reader option KEY=VALUE (repeatable). " + "; ".join(lines)


_DATASET = flags.DEFINE_enum("dataset", None, list(datasets.NAMES), "The raw dataset's format.")
_ROOT = flags.DEFINE_string("root", None, "The raw dataset directory.")
_OUT = flags.DEFINE_string("out", None, "The store directory to create.")
_OPTION = flags.DEFINE_multi_string("option", [], _options_help())
_WORKERS = flags.DEFINE_integer("workers", os.cpu_count(), "Worker processes (default: all cores).", lower_bound=1)
_LABEL_RULE = flags.DEFINE_enum("label_rule", "touch", list(RULES),
                                "When a window belongs to an event (touch: the paper's).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", list(DTYPES), "Stored window dtype.")
_STRICT = flags.DEFINE_bool("strict", False, "Fail on a recording that cannot be used instead of skipping it.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rebuild an existing store.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar (--noprogress: none).")
flags.mark_flags_as_required(["dataset", "root", "out"])


def _options() -> dict[str, str]:
  """--option KEY=VALUE pairs; the reader checks the keys and values (`datasets.get`)."""
  options = {}
  for text in _OPTION.value:
    key, sep, value = text.partition("=")
    if not sep or not key:
      raise ConfigError(f"--option {text!r}: expected KEY=VALUE, e.g. --option consensus=majority")
    options[key] = value
  datasets.get(_DATASET.value, **options)
  return options


def _generate_if_empty(root: Path) -> None:
  if root.is_dir() and any(root.iterdir()):
    return
  print(f"{root} is absent or empty: writing synthetic EEG there (CHB-MIT layout, "
        "jclip_eeg.data.synthetic.generate defaults)", flush=True)
  manifest = synthetic.generate(root)
  print(f"wrote {len(manifest.recordings)} recordings of {len(manifest.patients)} patients", flush=True)


def _config(dataset: str, options: dict[str, str]) -> str:
  """The config file (with its `:arg`, `config_lib.dataset_options`) that trains on such a store."""
  name = "demo" if dataset == "synthetic" else f"{dataset}_teacher"
  words = [options["classes"]] if options.get("classes") == "binary" else []
  if options.get("montage", datasets.get(dataset).montage) != datasets.get(dataset).montage:
    words.append(options["montage"])
  return f"configs/{name}.py" + (f":{','.join(words)}" if words else "")


def main(argv: list[str]) -> None:
  out = cli.check_output(_OUT.value, flag="--out", folder=True)
  options = _options()
  settings = dict(options=options, label_rule=_LABEL_RULE.value, dtype=_DTYPE.value)
  store = None if _OVERWRITE.value else existing_preparation(_DATASET.value, _ROOT.value, out, **settings)
  if store is not None:
    cli.closing(f"{out} already exists (pass --overwrite to rebuild it):\n{store!r}")
    return
  if _DATASET.value == "synthetic":
    _generate_if_empty(Path(_ROOT.value))
  store = prepare_store(_DATASET.value, _ROOT.value, out, workers=_WORKERS.value, strict=_STRICT.value,
                        overwrite=_OVERWRITE.value, progress=_PROGRESS.value, **settings)
  report = store.metadata["report"]
  skipped = store.metadata["skipped"]
  for entry in skipped:
    print(f"skipped {entry['path']}: {entry['reason']}")
  cli.closing(f"{store!r}\n{report['hours']:g} h of EEG, {len(skipped)} recording(s) skipped, dropped windows "
              f"{report['dropped'] or 'none'}, {report['run']['seconds']:g} s; wrote {out}",
              next_step=f"python scripts/train.py --config {_config(_DATASET.value, options)} "
                        f"--config.data.store={out}")


if __name__ == "__main__":
  cli.run(main, "prepare_data")
