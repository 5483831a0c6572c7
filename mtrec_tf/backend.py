"""The one module that imports TensorFlow and Keras for the library.

Everything else takes `tf` and `keras` from here, so a later move to Keras 3 changes one
file. `keras` is tf-keras (the Keras 2 API); see `mtrec_tf._keras_switch`.
"""

from mtrec_tf import _keras_switch

_keras_switch.select_legacy_keras()

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
