"""Image encoder: a small strided CNN trained from scratch, or a saved Keras backbone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.layers._utils import check_positive_int


@keras.saving.register_keras_serializable(package="mtrec_tf")
class ImageEncoder(keras.layers.Layer):
    """Encodes RGB images into a dense vector.

    ```
    x = images / 255                          (pixels in [0, 255] -> [0, 1])
    f = backbone(x)       the built-in CNN, or the model loaded from `backbone_path`
    f = global_average_pool(f)                (when f still has spatial axes)
    y = f W + b                               (batch, output_dim)
    ```

    The built-in CNN, trained from scratch, is a "patchify" stem followed by strided
    convolutions (no pooling layers):

    ```
    h_0 = relu(Conv2D(filters[0], patch_size x patch_size, stride patch_size)(x))
    h_i = relu(Conv2D(filters[i], 3x3, stride 2, "same")(h_{i-1}))      i >= 1
    ```

    The stem is computed as one matmul over non-overlapping patches that are cut from the
    raw (e.g. `uint8`) pixels before the cast to float, and the `1 / 255` scale is folded
    into its kernel, so no full-size float copy of the images is ever rescaled. Images
    whose height or width is not a multiple of `patch_size` are zero-padded at the
    bottom and right. With the defaults, 64x64 images cost about 0.8 MMACs each.

    With `backbone_path`, any Keras image model saved to a local file or folder (`.keras`,
    `.h5` or a SavedModel, e.g. a MobileNet) is loaded with `keras.models.load_model` and
    used as the feature extractor before the projection. It receives images in `[0, 1]`:
    save the backbone with its own preprocessing layers if it expects another range. It is
    frozen unless `backbone_trainable=True` (a frozen backbone runs its BatchNorm layers
    in inference mode). `get_config` keeps the path, so the file must still exist when a
    model holding this layer is reloaded; the backbone's weights are saved with the model.

    Args:
        output_dim: Width of the output embedding.
        filters: Output channels of the built-in CNN's stem and 3x3 convolutions, in
            order (ignored with `backbone_path`).
        backbone_path: Path of a saved Keras image model to use instead of the CNN.
        backbone_trainable: Whether the loaded backbone's weights are trained.
        patch_size: Side and stride of the built-in CNN's stem convolution.
        activation: Activation of the built-in CNN's layers.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Images of shape `(batch, height, width, 3)`, `uint8` or float, with
            pixel values in `[0, 255]`.
        training: Training mode (for the backbone's dropout or BatchNorm, if any).

    Returns:
        A float tensor of shape `(batch, output_dim)`.

    Example:

    >>> images = tf.zeros((2, 64, 64, 3), dtype=tf.uint8)
    >>> ImageEncoder(output_dim=32)(images).shape
    TensorShape([2, 32])

    References:
        - [Springenberg et al., 2015](https://arxiv.org/abs/1412.6806): Striving for
          Simplicity: The All Convolutional Net (strided convolutions instead of pooling).
        - [Liu et al., 2022](https://arxiv.org/abs/2201.03545): A ConvNet for the 2020s
          (the non-overlapping "patchify" stem).
        - [Howard et al., 2017](https://arxiv.org/abs/1704.04861): MobileNets, a typical
          pretrained backbone.
    """

    def __init__(
        self,
        output_dim: int,
        filters: Sequence[int] = (16, 32, 64),
        backbone_path: str | os.PathLike | None = None,
        backbone_trainable: bool = False,
        patch_size: int = 4,
        activation: Any = "relu",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_dim = check_positive_int("ImageEncoder", "output_dim", output_dim)
        if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
            raise ValueError(f"ImageEncoder: `filters` must be a sequence of ints, got {filters!r}")
        self.filters = [check_positive_int("ImageEncoder", "filters[i]", f) for f in filters]
        if backbone_path is None and not self.filters:
            raise ValueError("ImageEncoder: `filters` is empty and no `backbone_path` was given")
        self.backbone_path = None if backbone_path is None else os.fspath(backbone_path)
        self.backbone_trainable = bool(backbone_trainable)
        self.patch_size = check_positive_int("ImageEncoder", "patch_size", patch_size)
        self.activation = keras.activations.get(activation)

        self.backbone: keras.Model | None = None
        self.convs: list[keras.layers.Conv2D] = []
        if self.backbone_path is not None:
            if not os.path.exists(self.backbone_path):
                raise FileNotFoundError(
                    f"ImageEncoder: no saved backbone model at {self.backbone_path!r}"
                )
            self.backbone = keras.models.load_model(self.backbone_path, compile=False)
            self.backbone.trainable = self.backbone_trainable
        else:
            self.convs = [
                keras.layers.Conv2D(
                    width,
                    3,
                    strides=2,
                    padding="same",
                    activation=self.activation,
                    dtype=self.dtype_policy,
                    name=f"conv_{i + 1}",
                )
                for i, width in enumerate(self.filters[1:])
            ]
        self.projection = keras.layers.Dense(
            self.output_dim, dtype=self.dtype_policy, name="projection"
        )

    def build(self, input_shape: tf.TensorShape) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 4 or input_shape[-1] != 3:
            raise ValueError(
                f"ImageEncoder: expected images of shape (batch, height, width, 3), got {input_shape}"
            )
        if self.backbone is not None:
            features = tf.TensorShape(self.backbone.compute_output_shape(input_shape))
            if features.rank not in (2, 4) or features[-1] is None:
                raise ValueError(
                    f"ImageEncoder: the backbone at {self.backbone_path!r} gives features of "
                    f"shape {features}; expected (batch, channels) or (batch, h, w, channels)"
                )
            channels = int(features[-1])
        else:
            self.stem_kernel = self.add_weight(
                name="stem_kernel",
                shape=(self.patch_size * self.patch_size * 3, self.filters[0]),
                initializer="glorot_uniform",
            )
            self.stem_bias = self.add_weight(
                name="stem_bias", shape=(self.filters[0],), initializer="zeros"
            )
            shape = tf.TensorShape([input_shape[0], None, None, self.filters[0]])
            for conv in self.convs:
                with tf.name_scope(conv.name):
                    conv.build(shape)
                shape = conv.compute_output_shape(shape)
            channels = self.filters[-1]
        with tf.name_scope(self.projection.name):
            self.projection.build(tf.TensorShape([input_shape[0], channels]))
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        # Some oneDNN Conv2D kernels fail on an empty batch: it gets its (0, output_dim) directly.
        return tf.cond(tf.shape(inputs)[0] > 0, lambda: self._encode(inputs, training),
                       lambda: tf.zeros([0, self.output_dim], self.compute_dtype))

    def _encode(self, inputs: tf.Tensor, training: bool | None) -> tf.Tensor:
        if self.backbone is not None:
            x = tf.cast(inputs, self.backbone.compute_dtype) / 255.0  # (batch, H, W, 3)
            x = self.backbone(x, training=training)  # (batch, [h, w,] channels)
        else:
            x = self.activation(self._stem(inputs))  # (batch, H / p, W / p, filters[0])
            for conv in self.convs:
                x = conv(x)  # (batch, H / (p * 2**i), W / (p * 2**i), filters[i])
        if x.shape.rank == 4:
            x = tf.reduce_mean(x, axis=[1, 2])  # (batch, channels)
        return self.projection(tf.cast(x, self.compute_dtype))  # (batch, output_dim)

    def _stem(self, images: tf.Tensor) -> tf.Tensor:
        """Conv2D(patch x patch, stride patch) of `images / 255`, as one matmul over patches."""
        p = self.patch_size
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None or height % p or width % p:
            shape = tf.shape(images)
            images = tf.pad(
                images,
                [[0, 0], [0, -shape[1] % p], [0, -shape[2] % p], [0, 0]],
            )  # (batch, ceil(H / p) * p, ceil(W / p) * p, 3)
        shape = tf.shape(images)
        rows, cols = shape[1] // p, shape[2] // p
        patches = tf.reshape(images, [shape[0], rows, p, cols, p, 3])
        patches = tf.transpose(patches, [0, 1, 3, 2, 4, 5])  # (batch, rows, cols, p, p, 3)
        # Cast after cutting the patches: moving uint8 is four times cheaper than float32.
        patches = tf.cast(tf.reshape(patches, [-1, p * p * 3]), self.compute_dtype)
        kernel = self.stem_kernel * tf.constant(1.0 / 255.0, self.stem_kernel.dtype)
        stem = tf.matmul(patches, tf.cast(kernel, self.compute_dtype))
        stem = tf.nn.bias_add(stem, tf.cast(self.stem_bias, self.compute_dtype))
        # stem: (batch * rows * cols, filters[0])
        return tf.reshape(stem, [shape[0], rows, cols, self.filters[0]])

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape([tf.TensorShape(input_shape)[0], self.output_dim])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "filters": list(self.filters),
                "backbone_path": self.backbone_path,
                "backbone_trainable": self.backbone_trainable,
                "patch_size": self.patch_size,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
