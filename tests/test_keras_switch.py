"""mtrec_tf selects tf-keras, and says what to do when TensorFlow already chose Keras 3."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_importing_mtrec_tf_first_gives_tf_keras():
    result = _run("import mtrec_tf, sys; assert 'tensorflow' not in sys.modules\n"
                  "from mtrec_tf.backend import tf, keras\n"
                  "print(keras.__name__, tf.keras.layers.Dense.__module__.split('.')[0])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tf_keras", "tf_keras"]


def test_tensorflow_imported_with_keras_3_first_is_an_error_that_says_what_to_do():
    result = _run("import tensorflow\nimport mtrec_tf")
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr
    assert "import mtrec_tf before tensorflow" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
