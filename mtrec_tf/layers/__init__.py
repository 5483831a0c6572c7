"""Keras layers for multi-task recommendation; each is registered under package `mtrec_tf`.

Importing this package registers every layer, so a saved model that uses them reloads with
`keras.models.load_model(path)` and no `custom_objects`.
"""

from mtrec_tf.layers.attention_pooling import AttentionPooling, masked_softmax
from mtrec_tf.layers.experts import MixtureOfExperts, ProgressiveLayeredExtraction
from mtrec_tf.layers.image_encoder import ImageEncoder
from mtrec_tf.layers.mlp import MLP
from mtrec_tf.layers.ngram_linear import HashedNgramLinear
from mtrec_tf.layers.position_bias import PositionBias
from mtrec_tf.layers.self_attention_encoder import CausalSelfAttentionEncoder
from mtrec_tf.layers.sequence_encoder import SequenceEncoder
from mtrec_tf.layers.target_attention import TargetAttention

__all__ = [
    "AttentionPooling",
    "CausalSelfAttentionEncoder",
    "HashedNgramLinear",
    "ImageEncoder",
    "MLP",
    "MixtureOfExperts",
    "PositionBias",
    "ProgressiveLayeredExtraction",
    "SequenceEncoder",
    "TargetAttention",
    "masked_softmax",
]
