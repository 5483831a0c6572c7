"""The multi-task model, its encoders, and how it is built from a configuration."""

from mtrec_tf.models.item_encoder import CatalogueTensors, ItemEncoder
from mtrec_tf.models.multitask import ModelData, MultiTaskModel, encodes_items
from mtrec_tf.models.text_encoder import TextEncoder, TokenBatch
from mtrec_tf.models.user_encoder import UserEncoder

__all__ = ["CatalogueTensors", "ItemEncoder", "ModelData", "MultiTaskModel", "TextEncoder", "TokenBatch",
           "UserEncoder", "encodes_items"]
