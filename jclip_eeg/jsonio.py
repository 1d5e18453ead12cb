"""JSON files the project writes: written atomically, so a killed process never leaves half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: str | os.PathLike, obj: Any) -> None:
  """Writes `obj` as indented JSON, atomically (temporary file, then rename); NaN/inf are refused."""
  path = Path(path)
  tmp = path.with_name(f".{path.name}.tmp")
  tmp.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")
  os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> Any:
  """The content of a JSON file."""
  return json.loads(Path(path).read_text())


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
  """The records of a JSON-lines file (one object per line); [] when it does not exist."""
  path = Path(path)
  if not path.is_file():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
