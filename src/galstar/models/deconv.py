"""Network deconvolution (Ye et al. 2020): a convolution that whitens its input patches.

:class:`FastDeconv2D` is the paper's ``FastDeconv`` algorithm, which Wu & Peek (2020)
use in their hybrid CNNs, written with ``keras.ops`` only (any Keras 3 backend):

1. im2col: the input's k x k patches at a sampling stride of 3 (x the conv stride);
   channels are split into blocks of ``block`` (64, capped at the input channels, a
   divisor of them), and every block of every sampled patch is one sample of a
   ``k * k * block``-dimensional feature vector (one covariance shared by the blocks);
2. the samples' mean and covariance + ``eps`` I;
3. the covariance's inverse square root by ``n_iter`` Newton-Schulz iterations after
   Frobenius normalisation;
4. the whitening folded into the kernel (and the mean into the bias), then one
   ordinary convolution: ``conv(x, D K) - mean D K`` = ``conv`` of the whitened patches.

In training the batch statistics are used and the running mean and whitening matrix
follow them as exponential moving averages (``momentum`` 0.1); at inference the
running statistics are used. Gradients flow through the whitening, as in the paper.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["FastDeconv2D", "isqrt_newton_schulz", "deconv_block_size"]


def isqrt_newton_schulz(matrix, n_iter: int = 5):
    """Inverse square root of a symmetric positive-definite matrix by ``n_iter``
    coupled Newton-Schulz iterations, after scaling by its Frobenius norm (so that the
    iteration converges); an approximation whose accuracy grows with ``n_iter``."""
    dim = ops.shape(matrix)[0]
    norm = ops.sqrt(ops.sum(ops.square(matrix)))
    y = matrix / norm
    eye = ops.eye(dim, dtype=matrix.dtype)
    z = eye
    for _ in range(int(n_iter)):
        t = 0.5 * (3.0 * eye - ops.matmul(z, y))
        y = ops.matmul(y, t)
        z = ops.matmul(t, z)
    return z / ops.sqrt(norm)


def deconv_block_size(channels: int, block: int = 64) -> int:
    """Channels per whitening block: ``block``, capped at ``channels``, else the largest
    common divisor of both (so that the blocks tile the channels)."""
    if block >= channels:
        return int(channels)
    return math.gcd(int(block), int(channels))


@keras.saving.register_keras_serializable(package="galstar")
class FastDeconv2D(keras.layers.Layer):
    """2-D convolution on whitened (network-deconvolved) input patches, channels last.

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size : int
        Square kernel side (odd, or 1).
    strides : int
        Convolution stride.
    padding : {'same', 'valid'}
    use_bias : bool
        A learnable bias; without one the layer still subtracts the patch mean (folded
        into a bias term that is not learned).
    eps : float
        Added to the covariance's diagonal.
    n_iter : int
        Newton-Schulz iterations of the inverse square root.
    momentum : float
        Weight of the new batch in the running mean and whitening matrix.
    block : int
        Channels per whitening block (capped at the input channels).
    sampling_stride : int
        Spatial stride of the patches the statistics are computed from (times
        ``strides``).
    kernel_initializer : str or keras.initializers.Initializer
        Default ``he_normal`` (Kaiming).
    """

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1,
                 padding: str = "same", use_bias: bool = True, eps: float = 1e-5,
                 n_iter: int = 5, momentum: float = 0.1, block: int = 64,
                 sampling_stride: int = 3, kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"FastDeconv2D padding must be 'same' or 'valid', got {padding!r}")
        if int(kernel_size) < 1:
            raise ValueError(f"FastDeconv2D kernel_size must be >= 1, got {kernel_size}")
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.padding, self.use_bias = padding, bool(use_bias)
        self.eps, self.n_iter, self.momentum = float(eps), int(n_iter), float(momentum)
        self.block, self.sampling_stride = int(block), int(sampling_stride)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.channels = channels
        self.block_size = deconv_block_size(channels, self.block)
        self.n_blocks = channels // self.block_size
        self.num_features = k * k * self.block_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, channels, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)
        self.running_mean = self.add_weight(name="running_mean", shape=(self.num_features,),
                                            initializer="zeros", trainable=False)
        self.running_deconv = self.add_weight(
            name="running_deconv", shape=(self.num_features, self.num_features),
            initializer="identity", trainable=False)

    def patches(self, x):
        """The sampled im2col rows, (n_samples, k * k * block) float32: each block of
        each patch at the sampling stride, features in (row, column, channel) order."""
        k, stride = self.kernel_size, self.sampling_stride * self.strides
        x = ops.cast(x, "float32")
        if self.padding == "same" and k > 1:
            half = k // 2
            x = ops.pad(x, [[0, 0], [half, k - 1 - half], [half, k - 1 - half], [0, 0]])
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        n_rows = (height - k) // stride + 1
        n_cols = (width - k) // stride + 1
        taps = []
        for i in range(k):
            for j in range(k):
                taps.append(x[:, i:i + (n_rows - 1) * stride + 1:stride,
                              j:j + (n_cols - 1) * stride + 1:stride, :])
        p = ops.stack(taps, axis=3)  # (n, rows, cols, k*k, C)
        p = ops.reshape(p, (-1, k * k, self.n_blocks, self.block_size))
        p = ops.transpose(p, (0, 2, 1, 3))  # (samples, blocks, k*k, B)
        return ops.reshape(p, (-1, self.num_features))

    def statistics(self, x):
        """Mean (num_features,) and whitening matrix (num_features, num_features) of the
        sampled patches of ``x`` (float32)."""
        p = self.patches(x)
        mean = ops.mean(p, axis=0)
        centred = p - mean[None, :]
        n = ops.cast(ops.shape(centred)[0], "float32")
        cov = ops.matmul(ops.transpose(centred), centred) / n
        cov = cov + self.eps * ops.eye(self.num_features, dtype="float32")
        return mean, isqrt_newton_schulz(cov, self.n_iter)

    def folded(self, mean, deconv):
        """The whitened kernel (k, k, C, filters) and bias (filters,), float32."""
        k, b, nb = self.kernel_size, self.block_size, self.n_blocks
        kernel = ops.cast(self.kernel, "float32")
        w = ops.reshape(kernel, (k, k, nb, b, self.filters))
        w = ops.reshape(ops.transpose(w, (2, 0, 1, 3, 4)), (nb, self.num_features, self.filters))
        w = ops.einsum("ij,njf->nif", deconv, w)
        bias = -ops.sum(ops.einsum("i,nif->nf", mean, w), axis=0)
        if self.bias is not None:
            bias = bias + ops.cast(self.bias, "float32")
        w = ops.transpose(ops.reshape(w, (nb, k, k, b, self.filters)), (1, 2, 0, 3, 4))
        return ops.reshape(w, (k, k, self.channels, self.filters)), bias

    def call(self, inputs, training=None):
        if training:
            mean, deconv = self.statistics(inputs)
            m = self.momentum
            self.running_mean.assign((1.0 - m) * self.running_mean + m * ops.stop_gradient(mean))
            self.running_deconv.assign((1.0 - m) * self.running_deconv
                                       + m * ops.stop_gradient(deconv))
        else:
            mean = ops.cast(self.running_mean, "float32")
            deconv = ops.cast(self.running_deconv, "float32")
        kernel, bias = self.folded(mean, deconv)
        out = ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=self.strides,
                       padding=self.padding)
        return out + ops.cast(bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]

        def size(length):
            if length is None:
                return None
            if self.padding == "same":
                return -(-length // self.strides)
            return (length - self.kernel_size) // self.strides + 1

        return (n, size(h), size(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "use_bias": self.use_bias, "eps": self.eps,
                "n_iter": self.n_iter, "momentum": self.momentum, "block": self.block,
                "sampling_stride": self.sampling_stride,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
