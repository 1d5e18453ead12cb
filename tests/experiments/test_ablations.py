"""The ablation configs differ from their base in exactly the documented switches; the runner's table."""

from __future__ import annotations

import csv
import json

import pytest
from toy_run import load_config_file, toy_config

from jclip_eeg import config_lib, paper_results
from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments import ablations
from jclip_eeg.experiments.tables import COLUMNS

# The documented switches (jclip_eeg/experiments/ablations.py) on configs/demo.py: n_prompts 2, text trainable "prompts".
_TEXT_ABSENT = {"train.alpha": 0.0, "model.prediction": "head", "model.text.enabled": False}
EXPECTED = {
    "eeg_lp": _TEXT_ABSENT,
    "text_wp": {"model.eeg.n_prompts": 0, "model.text.prompt_mode": "none", "model.text.trainable": "none"},
    "text_lp": {"model.eeg.n_prompts": 0},
    "text_hp": {"model.eeg.n_prompts": 0, "model.text.prompt_mode": "handcrafted", "model.text.trainable": "none"},
    "base_wp": _TEXT_ABSENT | {"model.eeg.n_prompts": 0},
    "base_lp": {},
}


def _flat(config) -> dict:
  return config_lib._flat(config_lib.as_json(config))  # noqa: SLF001


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_differs_from_the_base_in_exactly_its_switches(name):
  base = load_config_file("demo")
  config = load_config_file("ablations", name)
  got, want = _flat(config), _flat(base)
  changed = {k: got[k] for k in config_lib.config_differences(config_lib.as_json(base), config_lib.as_json(config))
             if not k.startswith("student.") and k != "workdir"}
  assert changed == EXPECTED[name]
  assert not any(k.startswith("student") for k in got)  # ablations are teacher-only
  assert want["model.eeg.n_prompts"] == 2 and want["model.text.prompt_mode"] == "learnable"


def test_config_arg_names_another_base():
  config = load_config_file("ablations", "text_hp,tusz_teacher,binary")
  assert config.data.class_names == ("bckg", "seiz") and config.model.eeg.n_layers == 8
  assert config.model.text.trainable == "all"  # the paper config fine-tunes BERT; only prompts-only turns off
  with pytest.raises(ConfigError, match="expected one of"):
    load_config_file("ablations", "no_prompts")
  with pytest.raises(ConfigError, match="base config 'nowhere'"):
    load_config_file("ablations", "text_lp,nowhere")


def test_runner_table(tmp_path_factory, fast_jax):
  tmp = tmp_path_factory.mktemp("ablations")
  base = toy_config(tmp, teacher_epochs=1)
  rows = ablations.run_ablations(base, tmp / "ab", names=("base_wp", "base_lp"))
  assert [r["name"] for r in rows] == ["base_wp", "base_lp", "baseline"]
  for row in rows[:2]:
    result = json.loads((tmp / "ab" / row["name"] / "teacher" / "result.json").read_text())
    assert row["full_f1"] == result["test"]["f1_macro"] and row["full_specificity"] == result["test"]["specificity"]
    assert row["paper_f1"] == result["test"]["paper"]["f1"]
    assert not (tmp / "ab" / row["name"] / "student").exists()
  # Base-WP builds no text tower: its parameters are the EEG encoder's and the CLIP head's (E x K + K + log sigma).
  embed, n_classes = base.model.embed_dim, len(base.data.class_names)
  assert rows[0]["params"] == json.loads((tmp / "ab" / "base_wp" / "teacher" / "result.json").read_text())[
      "params"]["eeg_encoder"] + embed * n_classes + n_classes + 1
  assert rows[1]["params"] > rows[0]["params"] + 1000  # Base-LP has the (tiny) BERT
  with (tmp / "ab" / "ablation_table.csv").open() as f:
    table = list(csv.DictReader(f))
  assert [r["label"] for r in table] == ["Base-WP", "Base-LP", "band-power baseline"]
  assert [float(r["full_accuracy"]) for r in table] == [r["full_accuracy"] for r in rows]
  markdown = (tmp / "ab" / "ablation_table.md").read_text()
  assert f"| Base-LP (`base_lp`) | {100 * rows[1]['full_accuracy']:.2f} |" in markdown


def test_table_lists_the_papers_row_after_each_variant(tmp_path):
  row = {"name": "eeg_lp", "label": "EEG-LP", **{c: 0.5 for c in COLUMNS}}
  markdown, _ = ablations.write_table([row], tmp_path / "t", "neonatal")
  lines = markdown.read_text().splitlines()
  published = paper_results.reported("II", "neonatal", "eeg_lp")
  assert lines[2].startswith("| EEG-LP (`eeg_lp`) | 50.00 |")
  assert lines[3].startswith("| EEG-LP: paper (reported) | - |") and f"{100 * published['specificity']:.2f}" in lines[3]
