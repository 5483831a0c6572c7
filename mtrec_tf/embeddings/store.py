"""The pre-training output folder: vectors, vocabulary, metadata and a TensorBoard projector.

    DIR/vectors.npy        float32 (rows, dim); row i is the model's id i (reserved rows first)
    DIR/counts.npy         int64 (rows,): occurrences in the training corpus
    DIR/vocab.txt          the model's vocabulary, one a line; row = offset + line number
    DIR/meta.json          kind, dim, rows, offset, reserved row names, settings, throughput
    DIR/projector/         tensors.tsv, metadata.tsv (one label per row), projector_config.pbtxt

Every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mtrec_tf.embeddings.corpus import KINDS, OFFSETS, RESERVED
from mtrec_tf.errors import check_choice
from mtrec_tf.io_utils import write_bytes_atomic, write_json_atomic, write_text_atomic
from mtrec_tf.text.vocabulary import load_vocabulary, save_vocabulary


@dataclasses.dataclass(frozen=True)
class StoredVectors:
    """A pre-training output folder read back."""

    kind: str
    vectors: np.ndarray
    counts: np.ndarray
    vocabulary: tuple[str, ...]
    meta: dict[str, Any]

    @property
    def offset(self) -> int:
        return OFFSETS[self.kind]

    def labels(self) -> list[str]:
        """One name per row: the reserved rows, then the vocabulary."""
        return list(RESERVED[self.kind]) + list(self.vocabulary)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _tsv_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def save_vectors(directory: str | os.PathLike, kind: str, vectors: np.ndarray, counts: np.ndarray,
                 vocabulary: tuple[str, ...], meta: dict[str, Any] | None = None) -> Path:
    """Writes the output folder; returns it."""
    check_choice("kind", kind, KINDS)
    directory = Path(directory)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[0] != OFFSETS[kind] + len(vocabulary):
        raise ValueError(f"{vectors.shape[0]} vectors for {OFFSETS[kind]} reserved rows and "
                         f"{len(vocabulary)} vocabulary entries")
    write_bytes_atomic(directory / "vectors.npy", _npy(vectors))
    write_bytes_atomic(directory / "counts.npy", _npy(np.asarray(counts, dtype=np.int64)))
    save_vocabulary(vocabulary, directory / "vocab.txt")
    write_json_atomic(directory / "meta.json", {
        "kind": kind, "dim": int(vectors.shape[1]), "rows": int(vectors.shape[0]),
        "offset": OFFSETS[kind], "reserved": list(RESERVED[kind]), **(meta or {}),
    })
    stored = StoredVectors(kind, vectors, counts, tuple(vocabulary), {})
    projector = directory / "projector"
    write_text_atomic(projector / "tensors.tsv",
                      "".join("\t".join(f"{x:.6g}" for x in row) + "\n" for row in vectors))
    write_text_atomic(projector / "metadata.tsv", "".join(_tsv_field(label) + "\n" for label in stored.labels()))
    write_text_atomic(projector / "projector_config.pbtxt",
                      f'embeddings {{\n  tensor_name: "{kind}"\n  tensor_path: "tensors.tsv"\n'
                      f'  metadata_path: "metadata.tsv"\n  tensor_shape: {vectors.shape[0]}\n'
                      f'  tensor_shape: {vectors.shape[1]}\n}}\n')
    return directory


def load_vectors(directory: str | os.PathLike) -> StoredVectors:
    """Reads a folder written by `save_vectors`, checking that its parts agree."""
    directory = Path(directory)
    meta_path = directory / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{directory} is not a `mtrec pretrain` output: no meta.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{meta_path}: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    vectors = np.load(directory / "vectors.npy", allow_pickle=False)
    counts = np.load(directory / "counts.npy", allow_pickle=False)
    vocabulary = load_vocabulary(directory / "vocab.txt")
    if vectors.shape[0] != OFFSETS[kind] + len(vocabulary) or counts.shape[0] != vectors.shape[0]:
        raise ValueError(f"{directory}: {vectors.shape[0]} vectors, {counts.shape[0]} counts and "
                         f"{len(vocabulary)} vocabulary entries do not match")
    return StoredVectors(kind, vectors, counts, vocabulary, meta)
