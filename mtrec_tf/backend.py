"""The one module that imports TensorFlow and Keras for the library.

Everything else takes `tf` and `keras` from here, so a later move to Keras 3 changes one
file. `keras` is tf-keras (the Keras 2 API); see `mtrec_tf._keras_switch`. The native
messages TensorFlow prints while it loads follow `TF_CPP_MIN_LOG_LEVEL`; see
`mtrec_tf.native_logs`.
"""

from mtrec_tf import _keras_switch, native_logs

_keras_switch.select_legacy_keras()

with native_logs.native_logs_filtered():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
