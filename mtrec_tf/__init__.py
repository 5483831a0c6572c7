"""mtrec-tf: multi-task deep learning recommendation for e-commerce on TensorFlow.

Importing the package selects the Keras 2 API (tf-keras) for TensorFlow; see
`mtrec_tf.backend` for the one place that imports TensorFlow and Keras.
"""

from mtrec_tf import _keras_switch

_keras_switch.select_legacy_keras()

__version__ = "0.1.0"
