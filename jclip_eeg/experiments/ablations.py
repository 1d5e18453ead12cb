"""The paper's ablations (Table II, section V) as config switches on a teacher config, and their runner.

The paper ablates the teacher only. Its six rows, read as "which encoder
has prompts, and is the text encoder there at all", map to three switches:

  name      row in Table II                                  EEG prompts  text tower  text prompt
  eeg_lp    EEG encoder with learnable prompt (EEG-LP)        on           absent      -
  text_wp   Only Text encoder without prompt (Text-WP)        off          present     none
  text_lp   Text encoder with learnable prompt (Text-LP)      off          present     learnable
  text_hp   Text encoder with handcrafted prompt (Text-HP)    off          present     handcrafted
  base_wp   Basemodel without prompt (Base-WP)                off          absent      -
  base_lp   Basemodel with learnable prompt (Base-LP)         on           present     learnable

Config fields:
  * EEG prompts: `model.eeg.n_prompts` = 0 (off) or the base config's value (on).
  * Text prompt: `model.text.prompt_mode`; handcrafted uses `model.text.template`.
  * Text tower absent: the EEG encoder alone with its classification head,
    trained with the head's cross-entropy only: `model.text.enabled=False`
    (no BERT and no text projection are built or run; their parameters do
    not count), `train.alpha=0` (no CLIP loss), `model.prediction="head"`.
  * Text trainability: as in the base config, except that a variant without
    text prompts cannot train "prompts" only: its text tower is then frozen
    ("none"; the text projection still trains).
Every variant drops the base config's student section. base_lp is the base
config itself (with EEG prompts and learnable text prompts forced on).

The runner trains each variant in `<workdir>/<name>/` with
`loop.train_and_evaluate` (finished variants are read back, interrupted ones
resume) and writes `<workdir>/ablation_table.md` and `.csv`: each variant's
test fold in both protocols (experiments/tables.py: the whole fold, and the
paper's), the band-power baseline, and the paper's published Table II row of
each variant ("paper (reported)") for the paper's datasets.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ml_collections

from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments.tables import (COLUMNS, HEADER, REPORTED, cells, protocol_values, reported_values,
                                          write_csv, write_markdown)
from jclip_eeg.train import loop

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Ablation:
  """One row of Table II: its label and its switches (module docstring)."""
  label: str
  eeg_prompts: bool
  text_tower: bool
  text_prompt: str = "none"


ABLATIONS = {
    "eeg_lp": Ablation("EEG-LP", eeg_prompts=True, text_tower=False),
    "text_wp": Ablation("Text-WP", eeg_prompts=False, text_tower=True, text_prompt="none"),
    "text_lp": Ablation("Text-LP", eeg_prompts=False, text_tower=True, text_prompt="learnable"),
    "text_hp": Ablation("Text-HP", eeg_prompts=False, text_tower=True, text_prompt="handcrafted"),
    "base_wp": Ablation("Base-WP", eeg_prompts=False, text_tower=False),
    "base_lp": Ablation("Base-LP", eeg_prompts=True, text_tower=True, text_prompt="learnable"),
}
# EEG prompts per layer when the base config has them off but a variant needs them.
DEFAULT_EEG_PROMPTS = 4


def ablation_config(base: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The locked teacher config of ablation `name` (a key of ABLATIONS) built on teacher config `base`."""
  if name not in ABLATIONS:
    raise ConfigError(f"ablation {name!r}: expected one of {sorted(ABLATIONS)}")
  if base.model.role != "teacher":
    raise ConfigError(f"ablations start from a teacher config; config.model.role={base.model.role!r}")
  ablation = ABLATIONS[name]
  config = ml_collections.ConfigDict(base.to_dict())
  if "student" in config:
    del config["student"]
  model = config.model
  model.eeg.n_prompts = (base.model.eeg.n_prompts or DEFAULT_EEG_PROMPTS) if ablation.eeg_prompts else 0
  if not ablation.text_tower:
    model.text.enabled = False
    config.train.alpha = 0.0
    model.prediction = "head"
  else:
    model.text.prompt_mode = ablation.text_prompt
    if ablation.text_prompt != "learnable" and model.text.trainable == "prompts":
      model.text.trainable = "none"
  config.workdir = f"{base.workdir}_ablation_{name}"
  config.lock()
  return config


def run_ablations(base: ml_collections.ConfigDict, workdir: str | Path,
                  names: Sequence[str] = tuple(ABLATIONS)) -> list[dict[str, Any]]:
  """Trains (or reads back) each ablation in `<workdir>/<name>` and writes the ablation table.

  Returns:
    One row per ablation, then the baseline: `name`, `label`, the COLUMNS of
    its test fold (both protocols, fractions), `n_test` and `params` (the
    teacher's total parameter count; None for the baseline).
  """
  workdir = Path(workdir)
  rows = []
  for name in names:
    config = ablation_config(base, name)
    _log.info("ablation %s (%s) in %s", name, ABLATIONS[name].label, workdir / name)
    report = loop.train_and_evaluate(config, workdir / name)
    teacher = report["stages"]["teacher"]
    rows.append({"name": name, "label": ABLATIONS[name].label, **protocol_values(teacher["test"]),
                 "n_test": teacher["test"]["n_samples"], "params": teacher["params"]["total"]})
  test = report["baseline"]["test"]  # every variant has the base config's split
  rows.append({"name": "baseline", "label": "band-power baseline", **protocol_values(test),
               "n_test": test["n_samples"], "params": None})
  if loop.is_main_process():
    write_table(rows, table_path(workdir), base.data.dataset)
  return rows


def table_path(workdir: str | Path) -> Path:
  """`<workdir>/ablation_table` (the tables add .md / .csv)."""
  return Path(workdir) / "ablation_table"


def write_table(rows: Sequence[dict[str, Any]], stem: str | Path, dataset: str) -> tuple[Path, Path]:
  """`<stem>.md` (Table II layout, percent, both protocols) and `<stem>.csv` (fractions, full precision),
  with the paper's published row of each variant after it for the paper's datasets."""
  stem = Path(stem)
  body, records = [], []
  for row in rows:
    body.append([f"{row['label']} (`{row['name']}`)", *cells(row)])
    records.append({"name": row["name"], "label": row["label"], **{c: row[c] for c in COLUMNS}})
    published = reported_values("II", dataset, row["name"])
    if published is not None:
      body.append([f"{row['label']}: {REPORTED}", *cells(published)])
      records.append({"name": row["name"], "label": REPORTED, **published})
  return (write_markdown(stem.with_suffix(".md"), ["Method", *HEADER], body),
          write_csv(stem.with_suffix(".csv"), records))
