"""Pure TensorFlow maths of the mask: parameters -> mask -> masked image.

Shapes: mask parameters ``w`` are ``(N, h, w, 1)`` (one value per pixel or per cell of a
coarser grid), images ``(N, H, W, C)``, masks ``(N, H, W, 1)`` with values in ``[0, 1]``.

References:
    Alzantot et al., "NeuroMask: Explaining Predictions of Deep Neural Networks through
    Mask Learning", SMARTCOMP 2019, arXiv:1908.04389.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

BASELINES = ("zero", "blur", "mean", "noise")
UPSAMPLINGS = ("mask_bilinear", "parameters_bicubic")


def mask_from_params(params: tf.Tensor, temperature: float) -> tf.Tensor:
    """Maps mask parameters to a mask in [0, 1]: ``m = sigmoid(w / T)``.

    Args:
        params: ``(N, h, w, 1)`` mask parameters.
        temperature: the sigmoid temperature ``T > 0``.

    Returns:
        ``(N, h, w, 1)`` mask at the parameters' resolution.
    """
    return tf.sigmoid(params / temperature)


def soft_limit(params: tf.Tensor, centre: float, amplitude: float) -> tf.Tensor:
    """Squashes parameters into ``centre +- amplitude``, keeping their order and sign::

        w' = centre + A tanh((w - centre) / A)

    (the identity near ``centre``), so that no parameter sits where ``sigmoid(w / T)`` has no
    gradient left.
    """
    return centre + amplitude * tf.tanh((params - centre) / amplitude)


def upsample(mask: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resizes a grid mask ``(N, h, w, 1)`` to ``(N, H, W, 1)``, bilinearly.

    Half-pixel centres; the identity when the sizes already agree. Values stay in [0, 1].
    """
    if tuple(mask.shape[1:3]) == tuple(size):
        return mask
    return tf.clip_by_value(tf.image.resize(mask, size, method="bilinear"), 0.0, 1.0)


def mask_at_size(params: tf.Tensor, size: tuple[int, int], temperature: float,
                 upsampling: str = "mask_bilinear") -> tf.Tensor:
    """The image-size mask ``(N, H, W, 1)`` of grid parameters ``(N, h, w, 1)``.

    ``"mask_bilinear"``: ``m = bilinear(sigmoid(w / T))``, a grid of soft cells (with
    ``h = H`` one parameter per pixel). ``"parameters_bicubic"``: ``m = sigmoid(bicubic(w) / T)``:
    the parameters are interpolated smoothly first and squashed at pixel resolution, so the
    mask is as sharp as the temperature makes it while its outline is smooth at the scale of a
    grid cell, whatever the image size (a 7x7 grid draws the same shapes at 32 and 512 px).
    """
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"Expected upsampling in {UPSAMPLINGS}. Received: {upsampling!r}")
    if upsampling == "mask_bilinear" or tuple(params.shape[1:3]) == tuple(size):
        return upsample(mask_from_params(params, temperature), size)
    return mask_from_params(bicubic_upsample(params, size), temperature)


def bicubic_upsample(values: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """``tf.image.resize(values, size, "bicubic")`` as two matrix products, ``R v C^T``.

    Bicubic resizing is linear and separable, so its ``(H, h)`` and ``(W, w)`` matrices (the
    resize of each unit vector) give the same values (up to rounding) with ops that XLA
    compiles (``ResizeBicubic`` has no XLA kernel) and a cheap gradient.
    """
    rows = tf.constant(_bicubic_matrix(int(values.shape[1]), int(size[0])))
    cols = tf.constant(_bicubic_matrix(int(values.shape[2]), int(size[1])))
    return tf.einsum("Hh,nhwc,Ww->nHWc", rows, values, cols)


@functools.lru_cache(maxsize=64)
def _bicubic_matrix(source: int, target: int) -> np.ndarray:
    """``(target, source)``: column ``j`` is the bicubic resize of the ``j``-th unit vector."""
    with tf.init_scope():  # eager even while a tf.function is traced
        basis = tf.reshape(tf.eye(source), (source, source, 1, 1))
        resized = tf.image.resize(basis, (target, 1), method="bicubic")
        return np.ascontiguousarray(resized.numpy()[:, :, 0, 0].T, dtype=np.float32)


def blend(images: tf.Tensor, mask: tf.Tensor, baseline: tf.Tensor) -> tf.Tensor:
    """Reveals ``images`` where the mask is 1 and ``baseline`` where it is 0.

    ``x' = m * x + (1 - m) * b``; ``m`` broadcasts over the channels.
    """
    return mask * images + (1.0 - mask) * baseline


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """A normalised 1-D Gaussian ``k(d) ~ exp(-d² / (2 sigma²))`` for ``|d| <= radius``
    (default ``ceil(3 sigma)``, at least 1)."""
    if radius is None:
        radius = max(1, int(np.ceil(3.0 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_blur(images, sigma: float, *, radius: int | None = None,
                  borders: str = "reflect") -> tf.Tensor:
    """Separable Gaussian blur ``b = G_sigma * x`` of ``(N, H, W, C)`` images, per channel.

    Args:
        images: float images, numpy or tensor.
        sigma: the standard deviation in pixels (> 0).
        radius: the kernel's half-width, default ``ceil(3 sigma)``.
        borders: ``"reflect"`` (mirrored borders; the radius is clipped to fit the image: the
            blur baseline) or ``"normalize"`` (``(k * x) / (k * 1)`` with nothing outside the
            image, so borders are not darkened: the insertion metric's start, RISE's 11-tap
            sigma-5 kernel by default there).

    Returns:
        A float32 tensor of the images' shape.
    """
    if not sigma > 0 or (radius is not None and radius < 0):
        raise ValueError(f"Expected sigma > 0 and radius >= 0. Received: sigma={sigma}, "
                         f"radius={radius}")
    if borders not in ("reflect", "normalize"):
        raise ValueError(f"Expected borders in ('reflect', 'normalize'). Received: {borders!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    kernel = gaussian_kernel(sigma, radius)
    height, width = int(images.shape[1]), int(images.shape[2])
    if borders == "normalize":
        ones = tf.ones([1, height, width, 1])
        return _separable(images, kernel, "zeros") / _separable(ones, kernel, "zeros")
    radius = min(len(kernel) // 2, height - 1, width - 1)
    if radius < 1:
        return tf.identity(images)
    kernel = kernel[len(kernel) // 2 - radius : len(kernel) // 2 + radius + 1]
    return _separable(images, kernel / kernel.sum(), "reflect")


def _separable(images: tf.Tensor, kernel: np.ndarray, padding: str) -> tf.Tensor:
    """Rows then columns convolved with ``kernel``; borders padded by ``padding``
    (``"reflect"`` or ``"zeros"``)."""
    radius = len(kernel) // 2
    kernel = tf.constant(kernel)
    channels = int(images.shape[-1])
    mode = "REFLECT" if padding == "reflect" else "CONSTANT"
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode)
    rows = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, cols, [1, 1, 1, 1], "VALID")


def make_baseline(images: tf.Tensor, kind, *, seed: int = 0, blur_sigma: float | None = None):
    """The reference image ``b`` that hidden pixels are replaced with.

    Args:
        images: ``(N, H, W, C)`` float32 images.
        kind: ``"zero"`` (the paper), ``"blur"`` (Gaussian, sigma = ``blur_sigma`` or a tenth
            of the shorter side), ``"mean"`` (each image's mean colour), ``"noise"`` (uniform in
            each image's value range, fixed by ``seed``), or an array broadcastable to
            ``(N, H, W, C)`` (a given image).
        seed: seed of the noise baseline.
        blur_sigma: standard deviation of the blur in pixels.

    Returns:
        A float32 tensor of the images' shape.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if isinstance(kind, str):
        if kind == "zero":
            return tf.zeros_like(images)
        if kind == "blur":
            sigma = blur_sigma or max(1.0, min(images.shape[1], images.shape[2]) / 10.0)
            return gaussian_blur(images, float(sigma))
        if kind == "mean":
            return tf.broadcast_to(tf.reduce_mean(images, axis=[1, 2], keepdims=True),
                                   tf.shape(images))
        if kind == "noise":
            low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
            high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
            # one draw shared by the batch, so an image's baseline ignores its neighbours
            unit = tf.random.stateless_uniform(tf.concat([[1], tf.shape(images)[1:]], 0),
                                               seed=[seed, 7919])
            return low + unit * (high - low)
        raise ValueError(f"Expected baseline to be one of {BASELINES} or an image. "
                         f"Received: baseline={kind!r}")
    baseline = tf.convert_to_tensor(kind, tf.float32)
    try:
        return tf.broadcast_to(baseline, tf.shape(images))
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        raise ValueError(f"Expected a baseline image broadcastable to the images' shape "
                         f"{tuple(images.shape)}. Received: shape {tuple(baseline.shape)}"
                         ) from error
