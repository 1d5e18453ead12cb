"""Exclusive locks on a workdir or a store, so two runs never write into one place at once.

  with locks.hold(workdir / locks.LOCK_FILE, what=f"workdir {workdir}"):
    ...  # train

`hold` takes an `fcntl.flock` on the lock file without waiting and writes
who holds it into the file (pid, host, command, since). When another process
holds it, `InUse` names that process. The holder deletes the file when it is
done; the kernel drops the lock when its holder exits, `kill -9` included, so
a lock file left behind never blocks a rerun. A lock taken on a file that was
deleted meanwhile is not kept (the inode is checked), so two processes never
hold one path. flock is per open file, so a second `hold` of the same file is
refused even within one process. On a network filesystem flock may only see
the processes of one host.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from jclip_eeg.errors import InUse

LOCK_FILE = ".lock"
_COMMAND_CHARS = 300


def _holder_record() -> dict[str, object]:
  return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:_COMMAND_CHARS],
          "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def describe_holder(path: Path) -> str:
  """"pid 123 on host h (python scripts/train.py ...) since 2025-01-01T10:00:00+01:00", from the lock file."""
  try:
    record = json.loads(path.read_text())
    return f"pid {record['pid']} on host {record['host']} ({record['command']}) since {record['since']}"
  except (OSError, ValueError, KeyError, TypeError):
    return "another process (it has not written its name yet)"


@contextlib.contextmanager
def hold(path: str | os.PathLike, *, what: str) -> Iterator[None]:
  """Holds the exclusive lock `path` (created with its folder if absent) for the `with` block.

  Args:
    path: the lock file.
    what: what the lock protects, for the message ("workdir runs/demo").
  Raises:
    InUse: another process (or another `hold` in this one) holds it.
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd = _acquire(path, what)
  try:
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(_holder_record()).encode())
    yield
  finally:
    path.unlink(missing_ok=True)  # while still holding it, so no one else's lock file is deleted
    os.close(fd)


def _acquire(path: Path, what: str) -> int:
  """An open descriptor of `path` holding its flock; retries when the file was deleted while being locked."""
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      raise InUse(f"{what} is in use by {describe_holder(path)}; wait for that run to end, or use another "
                  f"path (lock file {path})") from None
    try:
      if os.fstat(fd).st_ino == os.stat(path).st_ino:
        return fd
    except FileNotFoundError:
      pass
    os.close(fd)  # the holder deleted the file between our open and flock: lock the new one
