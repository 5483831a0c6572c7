"""Hidden staging folders of versions being exported, and the removal of those left behind.

A version is written into `<base>/.<version>-<host>-<pid>-<random>/` and renamed into place
once complete; an export that is killed leaves its staging folder behind. The next export of
the same model removes such folders when no export can still be writing them:

- made on this machine (same host hash) by a process that no longer runs, or
- nothing in it was modified for `STALE_SECONDS` (an hour: a live export writes its files
  within seconds of creating the folder), which also covers folders of other machines and the
  older `.<version>-<random>` names that carry no owner.

Any other folder is kept, so exports running side by side never remove each other's. Only
folders with names of this pattern are touched; numbered versions and other files stay.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
import zlib

from mtrec_tf.backend import tf
from mtrec_tf.io_utils import join, listdir, rmtree

STALE_SECONDS = 3600.0
STAGING_NAME = re.compile(r"^\.(\d+)-(?:([0-9a-f]{8})-(\d+)-)?([0-9a-f]{8})$")


def host_id() -> str:
    """This machine's hostname as 8 hex digits (a name may hold dashes and dots)."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def staging_name(version: int) -> str:
    """The hidden folder name a version is staged under by this process."""
    return f".{version}-{host_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_stale(folder: str, name: str, now: float | None = None) -> bool:
    """Whether the staging folder `name` (at `folder`) belongs to no running export."""
    match = STAGING_NAME.match(name)
    if match is None:
        return False
    host, pid = match.group(2), match.group(3)
    if host == host_id() and pid is not None and not _running(int(pid)):
        return True
    return (time.time() if now is None else now) - _newest_mtime(folder) > STALE_SECONDS


def remove_stale_staging(base_path: str, now: float | None = None) -> list[str]:
    """Removes the stale staging folders directly under `base_path`; returns their names."""
    removed = []
    for name in listdir(base_path):
        folder = join(base_path, name)
        if STAGING_NAME.match(name) and tf.io.gfile.isdir(folder) and is_stale(folder, name, now):
            rmtree(folder)
            removed.append(name)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _newest_mtime(folder: str) -> float:
    """Seconds since the epoch of the newest change to the folder or anything in it."""
    paths = [folder]
    for root, dirs, files in tf.io.gfile.walk(folder):
        paths += [join(root, name) for name in dirs + files]
    return max(_mtime(path) for path in paths)


def _mtime(path: str) -> float:
    try:
        return tf.io.gfile.stat(path).mtime_nsec / 1e9
    except tf.errors.OpError:  # gone meanwhile, or a bucket's folder, which has no object of its own
        return 0.0
