"""Fault corpus, output locations: bad paths are refused before any work, and stores are never mixed up.

`cli.check_output` is what every script calls on its output flags first: a
missing folder is created; a folder where a file is wanted (or the reverse),
a path under a file, a read-only place or a device is one line naming the
flag. The scripts are then run with such paths, and must stop before doing
anything (no model loaded, nothing written). Last, an existing store is kept
only for the same preparation: another dataset, root or setting at the same
`--out` is refused, never silently reused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import REPO, assert_one_line_error, files_under, raises_naming, run_script, write_chbmit_root

from jclip_eeg import cli
from jclip_eeg.data.prepare import existing_preparation, prepare_store
from jclip_eeg.errors import ConfigError, DataError


@pytest.fixture()
def place(tmp_path) -> Path:
  """tmp/folder/ (existing), tmp/file.txt (a file)."""
  (tmp_path / "folder").mkdir()
  (tmp_path / "file.txt").write_text("keep me")
  return tmp_path


# (case, path below the fixture's folder or absolute, folder wanted?, the message; None: accepted).
PATHS = [
    ("a file in missing folders", "new/deeper/out.json", False, None),
    ("an existing file", "file.txt", False, None),
    ("a new file in an existing folder", "folder/out.json", False, None),
    ("a folder where a file is wanted", "folder", False, "is a folder; expected the name of a file to write"),
    ("the current folder", "", False, "is a folder; expected the name of a file to write"),
    ("a file under a file", "file.txt/out.json", False, "file.txt is a file, so nothing can be written under it"),
    ("a file deep under a file", "file.txt/a/b/out.json", False,
     "file.txt is a file, so nothing can be written under it"),
    ("a read-only filesystem", "/sys/jclip_out.json", False, "cannot write there"),
    ("a pseudo filesystem", "/proc/jclip_out.json", False, "cannot write there"),
    ("a device", "/dev/null", False, "is not a regular file or folder"),
    ("a new folder", "new/run", True, None),
    ("an existing folder", "folder", True, None),
    ("a file where a folder is wanted", "file.txt", True, "is a file; expected the name of a folder to write"),
    ("a folder under a file", "file.txt/run", True, "file.txt is a file, so nothing can be written under it"),
    ("a folder on a read-only filesystem", "/sys/jclip_run", True, "cannot write there"),
    ("a folder in a pseudo filesystem", "/proc/jclip_run", True, "cannot write there"),
]


@pytest.mark.parametrize("case, relative, folder, message", PATHS, ids=[p[0] for p in PATHS])
def test_an_output_path_is_checked_before_any_work(place, case, relative, folder, message):
  path = Path(relative) if relative.startswith("/") or not relative else place / relative
  if message is None:
    assert cli.check_output(path, flag="--out", folder=folder) == path
    assert path.parent.is_dir() and (place / "file.txt").read_text() == "keep me"
    assert not path.exists() or path.is_dir() == folder
  else:
    with raises_naming(ConfigError, f"--out={path}", message):
      cli.check_output(path, flag="--out", folder=folder)


# Every script with an output refuses a bad one first: the other arguments need not even exist.
SCRIPTS = [
    ("evaluate", ["--workdir", "nowhere", "--out", "file.txt/e.json"], "--out=file.txt/e.json: file.txt is a file"),
    ("train", ["--config", REPO / "configs" / "demo.py", "--workdir", "file.txt"],
     "--workdir=file.txt: is a file; expected the name of a folder"),
    ("prepare_data", ["--dataset", "chbmit", "--root", "nowhere", "--out", "file.txt"],
     "--out=file.txt: is a file; expected the name of a folder"),
    ("detect", ["--model", "nowhere", "--edf", "none.edf", "--out", "folder"],
     "--out=folder: is a folder; expected the name of a file"),
    ("export", ["--model", "nowhere", "--out", "/sys/model.jaxexport"], "--out=/sys/model.jaxexport: cannot write"),
    ("plots", ["--workdir", "nowhere", "--out", "file.txt"], "--out=file.txt: is a file; expected the name of a folder"),
]


@pytest.mark.parametrize("script, args, message", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_each_script_refuses_a_bad_output_before_doing_anything(place, script, args, message):
  before = files_under(place)
  done = run_script(script, *args, cwd=place, timeout=120)
  assert_one_line_error(done, script, message)
  assert files_under(place) == before


# ----------------------------------------------------------------------------- stores


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> tuple[Path, Path]:
  """Two CHB-MIT roots holding different recordings."""
  tmp = tmp_path_factory.mktemp("roots")
  return (write_chbmit_root(tmp / "a", {"chb01_01.edf": [(5, 12)], "chb01_02.edf": []}, seconds=20),
          write_chbmit_root(tmp / "b", {"chb02_01.edf": [(3, 9)], "chb02_02.edf": []}, seconds=20, patient="chb02"))


@pytest.fixture(scope="module")
def store(roots, tmp_path_factory) -> Path:
  out = tmp_path_factory.mktemp("stores") / "store"
  prepare_store("chbmit", roots[0], out, workers=1, progress=False)
  return out


OTHER_PREPARATIONS = [
    ("another root", {"root": 1}, "root="),
    ("another dataset", {"dataset": "synthetic"}, "dataset='chbmit' (this preparation: 'synthetic')"),
    ("another label rule", {"label_rule": "center"}, "label_rule='touch' (this preparation: 'center')"),
    ("another dtype", {"dtype": "float16"}, "dtype='float32' (this preparation: 'float16')"),
    ("another window length", {"window_s": 2.0}, "window_s=1.0 (this preparation: 2.0)"),
]


@pytest.mark.parametrize("case, change, message", OTHER_PREPARATIONS, ids=[p[0] for p in OTHER_PREPARATIONS])
def test_a_store_of_another_preparation_at_out_is_refused(roots, store, case, change, message):
  arguments = {"dataset": "chbmit", "root": roots[0]} | {k: roots[v] if k == "root" else v for k, v in change.items()}
  dataset, root = arguments.pop("dataset"), arguments.pop("root")
  before = (store / "store.json").read_bytes()
  with raises_naming(DataError, store, "holds a store prepared with other settings", message, "--overwrite"):
    prepare_store(dataset, root, store, workers=1, progress=False, **arguments)
  with raises_naming(DataError, store, message):
    existing_preparation(dataset, root, store, **arguments)
  assert (store / "store.json").read_bytes() == before


def test_the_same_preparation_is_kept_and_overwrite_replaces_another(roots, store, tmp_path):
  assert existing_preparation("chbmit", roots[0], store).recordings == ("chb01_01", "chb01_02")
  assert prepare_store("chbmit", roots[0], store, progress=False).path == store
  copy = tmp_path / "copy"
  prepare_store("chbmit", roots[0], copy, workers=1, progress=False)
  replaced = prepare_store("chbmit", roots[1], copy, workers=1, progress=False, overwrite=True)
  assert replaced.recordings == ("chb02_01", "chb02_02") and replaced.metadata["root"] == str(roots[1].resolve())
