"""The spectrum InfoVAE of Portillo et al. (2020) that Wu & Peek (2020) predict from images.

An encoder maps a mean-subtracted, normalised 1000-pixel rest-frame spectrum through
dense layers (549, 110 units, leaky ReLU) to the mean and log-variance of a 10-d
Gaussian latent; the decoder mirrors it (110, 549, 1000 linear). The loss per spectrum
is InfoVAE's (Zhao et al. 2019)::

    0.5 sum_pixels w (x - x_hat)^2  +  (1 - alpha) KL(q(z|x) || N(0, I))
                                     +  (alpha + lambda - 1) MMD(q(z) || N(0, I))

with ``w`` the pixel weight (inverse variance after normalisation, 0 where the pixel
was filled) and MMD the (biased) maximum mean discrepancy with a Gaussian kernel of
width ``2 / latent_dim`` between the batch's latent samples and as many prior draws.

The training model (:func:`build_vae`) takes ``{"flux", "weight"}`` and returns one
tensor: reconstruction, mean, log-variance, latent sample and prior draws side by side
(:func:`split_outputs`), so that the loss is a plain function (:class:`InfoVAELoss`)
and ``model.fit`` works on every Keras backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

__all__ = ["Sampling", "PriorDraws", "build_encoder", "build_decoder", "build_vae",
           "split_outputs", "gaussian_mmd", "reconstruction_loss", "kl_divergence",
           "InfoVAELoss"]


@keras.saving.register_keras_serializable(package="galstar")
class Sampling(layers.Layer):
    """Reparameterised draw ``mean + exp(log_var / 2) eps`` in training, the mean at
    inference."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if not training:
            return mean
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator, dtype=mean.dtype)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="galstar")
class PriorDraws(layers.Layer):
    """As many N(0, I) draws as the batch has latents (the MMD's reference sample)."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, latent):
        return keras.random.normal(ops.shape(latent), seed=self.seed_generator,
                                   dtype=latent.dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def build_encoder(n_pixels: int = 1000, hidden: Sequence[int] = (549, 110),
                  latent_dim: int = 10) -> keras.Model:
    """Spectrum (n_pixels,) -> latent mean and log-variance (latent_dim,) each."""
    flux = keras.Input((int(n_pixels),), name="flux")
    x = flux
    for i, units in enumerate(hidden):
        x = layers.Dense(int(units), activation="leaky_relu", name=f"enc{i}")(x)
    mean = layers.Dense(int(latent_dim), name="z_mean")(x)
    log_var = layers.Dense(int(latent_dim), name="z_log_var")(x)
    return keras.Model(flux, [mean, log_var], name="encoder")


def build_decoder(n_pixels: int = 1000, hidden: Sequence[int] = (549, 110),
                  latent_dim: int = 10) -> keras.Model:
    """Latent (latent_dim,) -> spectrum (n_pixels,); the encoder's layers mirrored."""
    z = keras.Input((int(latent_dim),), name="latent")
    x = z
    for i, units in enumerate(reversed(tuple(hidden))):
        x = layers.Dense(int(units), activation="leaky_relu", name=f"dec{i}")(x)
    return keras.Model(z, layers.Dense(int(n_pixels), name="reconstruction")(x), name="decoder")


def build_vae(n_pixels: int = 1000, hidden: Sequence[int] = (549, 110), latent_dim: int = 10,
              seed: int | None = None) -> tuple[keras.Model, keras.Model, keras.Model]:
    """``(vae, encoder, decoder)``: the training model (inputs ``flux`` and ``weight``;
    the weight only passes through to the loss, see :func:`split_outputs`)."""
    encoder = build_encoder(n_pixels, hidden, latent_dim)
    decoder = build_decoder(n_pixels, hidden, latent_dim)
    flux = keras.Input((int(n_pixels),), name="flux")
    weight = keras.Input((int(n_pixels),), name="weight")
    mean, log_var = encoder(flux)
    z = Sampling(seed=seed, name="sample")([mean, log_var])
    prior = PriorDraws(seed=None if seed is None else seed + 1, name="prior")(z)
    out = layers.Concatenate(name="vae_outputs")(
        [decoder(z), mean, log_var, z, prior, weight])
    return keras.Model({"flux": flux, "weight": weight}, out, name="spectrum_vae"), encoder, decoder


def split_outputs(y_pred, n_pixels: int, latent_dim: int):
    """``(reconstruction, mean, log_var, z, prior, weight)`` from the training model's
    output."""
    edges = [n_pixels, latent_dim, latent_dim, latent_dim, latent_dim, n_pixels]
    out, start = [], 0
    for size in edges:
        out.append(y_pred[:, start:start + size])
        start += size
    return tuple(out)


def reconstruction_loss(flux, reconstruction, weight):
    """Per spectrum ``0.5 sum w (x - x_hat)^2`` (a Gaussian negative log-likelihood
    without its constant)."""
    return 0.5 * ops.sum(weight * ops.square(flux - reconstruction), axis=-1)


def kl_divergence(mean, log_var):
    """Per spectrum ``KL(N(mean, exp(log_var)) || N(0, I))``."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def _kernel(a, b):
    dim = ops.cast(ops.shape(a)[1], a.dtype)
    d2 = ops.sum(ops.square(a[:, None, :] - b[None, :, :]), axis=-1)
    return ops.exp(-d2 / (2.0 * dim))


def gaussian_mmd(x, y):
    """Biased MMD^2 between samples ``x`` and ``y`` (n, d) with the kernel
    ``exp(-|a - b|^2 / (2 d))``: 0 for identical samples, > 0 otherwise."""
    return (ops.mean(_kernel(x, x)) + ops.mean(_kernel(y, y)) - 2.0 * ops.mean(_kernel(x, y)))


@keras.saving.register_keras_serializable(package="galstar")
class InfoVAELoss(keras.losses.Loss):
    """InfoVAE loss on :func:`build_vae`'s output; ``y_true`` is the input flux.

    Parameters
    ----------
    n_pixels, latent_dim : int
    alpha, lambda_ : float
        InfoVAE's weights: KL x ``1 - alpha``, MMD x ``alpha + lambda_ - 1``.
    """

    def __init__(self, n_pixels: int = 1000, latent_dim: int = 10, alpha: float = 0.0,
                 lambda_: float = 100.0, name: str = "info_vae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n_pixels, self.latent_dim = int(n_pixels), int(latent_dim)
        self.alpha, self.lambda_ = float(alpha), float(lambda_)

    def call(self, y_true, y_pred):
        recon, mean, log_var, z, prior, weight = split_outputs(y_pred, self.n_pixels,
                                                               self.latent_dim)
        per_spectrum = (reconstruction_loss(y_true, recon, weight)
                        + (1.0 - self.alpha) * kl_divergence(mean, log_var))
        mmd = gaussian_mmd(z, prior)  # a batch statistic, shared by the batch's spectra
        return per_spectrum + (self.alpha + self.lambda_ - 1.0) * mmd

    def get_config(self):
        return {**super().get_config(), "n_pixels": self.n_pixels,
                "latent_dim": self.latent_dim, "alpha": self.alpha, "lambda_": self.lambda_}
