"""The multi-task model and how it is built from a configuration."""

from mtrec_tf.models.multitask import ModelData, MultiTaskModel

__all__ = ["ModelData", "MultiTaskModel"]
