"""Small file helpers over `tf.io.gfile`, so that every path may be local or a URL (`gs://...`).

Writes are atomic: a temporary file beside the target is renamed into place, so a reader never
sees a half-written file. Output paths stay strings: `pathlib.Path` would turn `gs://bucket`
into `gs:/bucket`. TensorFlow is imported on first use only.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from pathlib import Path
from typing import Any


def _gfile() -> Any:
    from mtrec_tf.backend import tf

    return tf.io.gfile


def is_url(path: str | os.PathLike) -> bool:
    """True for `scheme://...` paths such as `gs://bucket/run`."""
    return "://" in os.fspath(path)


def join(base: str | os.PathLike, *parts: str) -> str:
    """`base/part/...` as a string; URLs are joined with "/" whatever the local separator."""
    base = os.fspath(base)
    return posixpath.join(base, *parts) if is_url(base) else os.path.join(base, *parts)


def parent(path: str | os.PathLike) -> str:
    """The folder that holds `path` (trailing separators ignored)."""
    path = os.fspath(path)
    if is_url(path):
        return posixpath.dirname(path.rstrip("/"))
    return os.path.dirname(path.rstrip(os.sep)) if path.rstrip(os.sep) else path


def basename(path: str | os.PathLike) -> str:
    """The last component of `path` (trailing separators ignored)."""
    path = os.fspath(path)
    return posixpath.basename(path.rstrip("/")) if is_url(path) else os.path.basename(path.rstrip(os.sep))


def as_path(path: str | os.PathLike) -> Path | str:
    """A `Path` for a local path, the string itself for a URL (which `Path` would mangle)."""
    return os.fspath(path) if is_url(path) else Path(path)


def exists(path: str | os.PathLike) -> bool:
    return _gfile().exists(os.fspath(path))


def isdir(path: str | os.PathLike) -> bool:
    return _gfile().isdir(os.fspath(path))


def listdir(path: str | os.PathLike) -> list[str]:
    """Entry names in a folder (without trailing "/"), sorted."""
    return sorted(name.rstrip("/") for name in _gfile().listdir(os.fspath(path)))


def makedirs(path: str | os.PathLike) -> None:
    """Creates a folder and its parents; an existing folder is fine."""
    _gfile().makedirs(os.fspath(path))


def rmtree(path: str | os.PathLike) -> None:
    """Deletes a folder and everything in it; a missing folder is fine."""
    gfile = _gfile()
    if gfile.exists(os.fspath(path)):
        gfile.rmtree(os.fspath(path))


def remove(path: str | os.PathLike) -> None:
    """Deletes a file, or a folder and everything in it; a missing path is fine."""
    gfile = _gfile()
    path = os.fspath(path)
    if gfile.isdir(path):
        gfile.rmtree(path)
    elif gfile.exists(path):
        gfile.remove(path)


def rename(source: str | os.PathLike, target: str | os.PathLike, overwrite: bool = False) -> None:
    """Renames a file or a folder.

    A local rename is atomic. Object stores have no folders: a folder's files are renamed one
    by one (which is what TensorFlow's GCS file system does itself; others rename only the
    folder's marker).
    """
    gfile = _gfile()
    source, target = os.fspath(source), os.fspath(target)
    if not is_url(source) or not gfile.isdir(source):
        gfile.rename(source, target, overwrite=overwrite)
        return
    if not overwrite and gfile.exists(target):
        raise FileExistsError(f"cannot rename {source} to {target}: it exists")
    for folder, _, files in gfile.walk(source):
        moved = join(target, folder[len(source):].strip("/")) if folder != source else target
        gfile.makedirs(moved)
        for name in files:
            gfile.rename(join(folder, name), join(moved, name), overwrite=overwrite)
    gfile.rmtree(source)


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copies a file (streamed, local or URL either side) to a temporary name beside `target`,
    then renames it into place."""
    gfile = _gfile()
    target = os.fspath(target)
    folder = parent(target)
    if folder:
        gfile.makedirs(folder)
    tmp = join(folder, f".{basename(target)}.{uuid.uuid4().hex}.tmp")
    try:
        gfile.copy(os.fspath(source), tmp, overwrite=True)
        gfile.rename(tmp, target, overwrite=True)
    except BaseException:
        if gfile.exists(tmp):
            gfile.remove(tmp)
        raise


def read_bytes(path: str | os.PathLike) -> bytes:
    """A file's bytes; a missing file raises FileNotFoundError, local or a URL."""
    from mtrec_tf.backend import tf

    try:
        with _gfile().GFile(os.fspath(path), "rb") as handle:
            return handle.read()
    except tf.errors.NotFoundError as error:
        raise FileNotFoundError(f"{os.fspath(path)}: no such file") from error


def read_text(path: str | os.PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(read_text(path))


def file_size(path: str | os.PathLike) -> int:
    """Bytes in a file."""
    return int(_gfile().stat(os.fspath(path)).length)


def folder_size(path: str | os.PathLike) -> int:
    """Bytes in all files under a folder."""
    gfile = _gfile()
    total = 0
    for folder, _, files in gfile.walk(os.fspath(path)):
        total += sum(gfile.stat(join(folder, name)).length for name in files)
    return total


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it into place."""
    path = os.fspath(path)
    gfile = _gfile()
    folder = parent(path)
    if folder:
        gfile.makedirs(folder)
    tmp = join(folder, f".{basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with gfile.GFile(tmp, "wb") as out:
            out.write(data)
        gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        if gfile.exists(tmp):
            gfile.remove(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """UTF-8 text version of `write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, value: Any) -> None:
    """Pretty-printed JSON, written atomically."""
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
