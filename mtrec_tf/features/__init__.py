"""The shop's own features: their configuration, statistics from training, validation, and the
input layer that turns raw values into vectors inside the model (so serving takes raw values).

Only `spec` is imported here: the configuration reads it without TensorFlow or pandas.
"""

from mtrec_tf.features.spec import FeatureConfig, check_features

__all__ = ["FeatureConfig", "check_features"]
