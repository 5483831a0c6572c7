"""Files that may live in a bucket: `pathlib.Path` for local paths, `UrlPath` for URLs.

`UrlPath` is the part of `Path`'s interface that the table readers and the example writers use,
over `tf.io.gfile` (`gs://` on Google Cloud, `ram://` in tests, and whatever else TensorFlow's
file systems read). `Path` would turn `gs://bucket/log` into `gs:/bucket/log`, so every path
that may be a URL goes through `path_of`.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from mtrec_tf import io_utils


class UrlPath:
    """A file or folder named by a URL, such as `gs://shop-logs/events/part-00000.parquet`."""

    def __init__(self, url: str):
        if not io_utils.is_url(url):
            raise ValueError(f"{url}: not a URL (scheme://...)")
        scheme, rest = url.split("://", 1)
        self._url = f"{scheme}://{rest.rstrip('/')}" if rest.rstrip("/") else url

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"UrlPath({self._url!r})"

    def __fspath__(self) -> str:
        return self._url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UrlPath) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __lt__(self, other: UrlPath) -> bool:
        return self._url < other._url

    def __truediv__(self, name: str) -> UrlPath:
        return UrlPath(posixpath.join(self._url, name))

    @property
    def name(self) -> str:
        return posixpath.basename(self._url.split("://", 1)[1])

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> UrlPath:
        scheme, rest = self._url.split("://", 1)
        return UrlPath(f"{scheme}://{posixpath.dirname(rest)}")

    def exists(self) -> bool:
        return io_utils.exists(self._url)

    def is_dir(self) -> bool:
        return io_utils.isdir(self._url)

    def is_file(self) -> bool:
        return self.exists() and not self.is_dir()

    def iterdir(self) -> Iterator[UrlPath]:
        return (self / name for name in io_utils.listdir(self._url))

    def glob(self, pattern: str) -> Iterator[UrlPath]:
        from mtrec_tf.backend import tf

        return (UrlPath(url) for url in sorted(tf.io.gfile.glob(posixpath.join(self._url, pattern))))

    def stat(self) -> UrlStat:
        return UrlStat(io_utils.file_size(self._url))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        io_utils.makedirs(self._url)

    def read_bytes(self) -> bytes:
        return io_utils.read_bytes(self._url)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        io_utils.write_bytes_atomic(self._url, data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def open(self, mode: str = "rb") -> IO[Any]:
        """A binary file to read (seekable, as pyarrow's readers need), or one to write."""
        from mtrec_tf.backend import tf

        if mode not in ("rb", "wb"):
            raise ValueError(f"{self}: UrlPath opens files in 'rb' or 'wb' mode, not {mode!r}")
        handle = tf.io.gfile.GFile(self._url, mode)
        return io.BufferedReader(_GFileReader(handle), buffer_size=1 << 20) if mode == "rb" else handle


class UrlStat(NamedTuple):
    """What `UrlPath.stat` knows of a file."""

    st_size: int


AnyPath = Path | UrlPath


def path_of(path: str | os.PathLike[str]) -> AnyPath:
    """`Path` for a local path, `UrlPath` for a URL."""
    if isinstance(path, (Path, UrlPath)):
        return path
    return UrlPath(os.fspath(path)) if io_utils.is_url(path) else Path(path)


@contextlib.contextmanager
def readable(path: AnyPath) -> Iterator[str | IO[bytes]]:
    """What pyarrow reads `path` from: the local path itself (read natively), or an open file."""
    if isinstance(path, Path):
        yield str(path)
        return
    with path.open("rb") as handle:
        yield handle


class _GFileReader(io.RawIOBase):
    """A `tf.io.gfile.GFile` opened to read, as the raw file `io` and pyarrow expect (GFile
    lacks `closed`, `readinto` and `seekable`)."""

    def __init__(self, handle: Any):
        super().__init__()
        self._handle = handle

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._handle.seek(offset, whence)
        return int(self._handle.tell())

    def tell(self) -> int:
        return int(self._handle.tell())

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()
