"""Select tf-keras (the Keras 2 API) before TensorFlow is imported.

TensorFlow reads `TF_USE_LEGACY_KERAS` once, when it is first imported. TensorFlow
Recommenders, keras-tuner's tf-keras models and MultiWorkerMirroredStrategy training all
need the Keras 2 API, so the flag has to be set before anything imports TensorFlow.
This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys

FLAG = "TF_USE_LEGACY_KERAS"


class KerasVersionError(ImportError):
    """TensorFlow was imported with Keras 3 before mtrec_tf could select tf-keras."""


def select_legacy_keras() -> None:
    """Sets `TF_USE_LEGACY_KERAS=1`, or raises if TensorFlow already chose Keras 3."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and not _uses_tf_keras(tensorflow):
        raise KerasVersionError(
            "TensorFlow was imported with Keras 3 before mtrec_tf. mtrec_tf needs the Keras 2 "
            f"API (tf-keras): import mtrec_tf before tensorflow, or set {FLAG}=1 in the "
            "environment before starting Python."
        )
    os.environ[FLAG] = "1"


def _uses_tf_keras(tensorflow: object) -> bool:
    if os.environ.get(FLAG, "").lower() in ("1", "true", "yes"):
        return True
    keras = getattr(tensorflow, "keras", None)
    return getattr(keras, "__name__", "").startswith("tf_keras")
