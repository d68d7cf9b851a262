"""Keras callbacks of keras-neuromask: watch a classifier's masks while it trains.

:class:`ExplainDuringTraining` goes into ``classifier.fit(..., callbacks=[...])`` and, every
few epochs, explains a few validation images with NeuroMask against the classifier *as it is
at that epoch*, writing a grid (images, masks, overlays) to TensorBoard and/or PNG files, and
a few scalars worth plotting (how much of each mask lies on a region you name, its area, the
probability the masked image keeps). :class:`PlateauStopping` (the explainer's own early
stopping) is re-exported here.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import keras
import numpy as np

from keras_neuromask import inputs
from keras_neuromask.explainer import NeuroMask
from keras_neuromask.results.outputs import atomic_write
from keras_neuromask.results.visualize import comparison_grid_png
from keras_neuromask.stopping import PlateauStopping, plateau_update


class EpochExplanation(NamedTuple):
    """What :class:`ExplainDuringTraining` measured at one logging epoch."""

    epoch: int  # Keras' 0-based epoch index
    masks: np.ndarray  # float32 (N, H, W) in [0, 1]
    targets: np.ndarray  # int64 (N,), the classes explained
    original_probability: np.ndarray  # float32 (N,), p(target | image) at this epoch
    scalars: dict  # name -> float: mask_area, kept_probability[, region_share]


class ExplainDuringTraining(keras.callbacks.Callback):
    """Explains a few validation images every ``every`` epochs of ``classifier.fit``.

    Per logging epoch it writes, when asked: to TensorBoard (``log_dir``, run ``neuromask``)
    one image summary ``neuromask/masks`` (a grid: each image, its mask, the mask over it;
    the description names each row's class and probability) and the scalars
    ``neuromask/mask_area`` (mean ``mean m``), ``neuromask/kept_probability`` (mean
    ``p_c(x')``, the masked image's probability of the class) and, with ``region``,
    ``neuromask/region_share`` (mean ``sum(m * r) / sum(m)``: the share of mask mass on the
    region, e.g. where a watermark or the background is); to ``out_dir`` the same grid as
    ``epoch_0003.png`` (1-based epoch numbers). :attr:`explanations` keeps every epoch's
    :class:`EpochExplanation`.

    The classifier is only read: its weights, optimizer state, ``trainable`` flags and metrics
    are those of a run without the callback (the explainer tracks neither the classifier nor
    its optimizer, and Keras' logs are not touched). The explainer is made once, at the start
    of training, and its compiled step is reused every time.

    Args:
        validation_data: images ``(N, H, W, C)``, or ``(images, labels)``: the labels
            (ints or one-hot rows) are the classes explained; without them, the classifier's
            prediction at that epoch.
        every: explain every ``every`` epochs (and never before the first ends).
        log_dir: a TensorBoard log folder (the summaries go to ``log_dir/neuromask``).
        out_dir: a folder for the PNG grids.
        region: an optional ``(H, W)`` or ``(N, H, W)`` map in [0, 1] for ``region_share``.
        steps: optimisation steps per explanation (a cheap default for a training loop).
        preset: the explainer's preset; ``**explainer_options`` are its other keywords.

    Example:
        >>> watch = ExplainDuringTraining((x_val[:8], y_val[:8]), log_dir="logs")
        >>> classifier.fit(x, y, epochs=5, callbacks=[watch, keras.callbacks.TensorBoard("logs")])
    """

    def __init__(self, validation_data, *, every: int = 1, log_dir=None, out_dir=None,
                 region=None, steps: int = 60, preset: str = "default", **explainer_options):
        super().__init__()
        images, labels = (validation_data if isinstance(validation_data, (tuple, list))
                          else (validation_data, None))
        self.images, _ = inputs.as_image_batch(images)
        self.labels = _as_labels(labels, len(self.images))
        self.every = inputs.check_int("every", every, minimum=1)
        if log_dir is None and out_dir is None:
            raise ValueError("Expected log_dir (TensorBoard) or out_dir (PNG files). "
                             "Received: neither")
        self.log_dir, self.out_dir = log_dir, out_dir
        self.region = None if region is None else _as_region(region, self.images.shape[:3])
        self.steps = inputs.check_int("steps", steps, minimum=1)
        self.preset, self.explainer_options = preset, explainer_options
        self.explainer = None
        self.explanations: list[EpochExplanation] = []
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.explainer is None or self.explainer.classifier is not self.model:
            self.explainer = NeuroMask(self.model, preset=self.preset, steps=self.steps,
                                       batch_size=len(self.images), **self.explainer_options)
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir,
                                                                      "neuromask"))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        result = self.explainer.explain(self.images, self.labels)
        scalars = {"mask_area": float(result.masks.mean()),
                   "kept_probability": float(result.masked_probability.mean())}
        if self.region is not None:
            mass = result.masks.sum(axis=(1, 2))
            share = (result.masks * self.region).sum(axis=(1, 2)) / np.maximum(mass, 1e-12)
            scalars["region_share"] = float(share.mean())
        explained = EpochExplanation(epoch, result.masks, result.targets,
                                     result.original_probability, scalars)
        self.explanations.append(explained)
        titles = [f"class {t}, p={p:.2f}"
                  for t, p in zip(result.targets, result.original_probability)]
        png = comparison_grid_png(self.images, {"mask": result.masks, "overlay": result.masks},
                                  titles=titles, alpha={"mask": 1.0, "overlay": 0.5},
                                  normalize=False, cell_size=96)
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
            atomic_write(os.path.join(self.out_dir, f"epoch_{epoch + 1:04d}.png"),
                         lambda f: f.write(png))
        if self._writer is not None:
            self._write_summaries(epoch, png, titles, scalars)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def _write_summaries(self, epoch: int, png: bytes, titles, scalars: dict) -> None:
        import tensorflow as tf

        with self._writer.as_default(step=epoch):
            grid = tf.image.decode_png(png, channels=3)[None]
            tf.summary.image("neuromask/masks", grid, description=(
                f"NeuroMask at epoch {epoch + 1}: rows = " + "; ".join(titles)
                + ". Columns: image, mask, mask over the image."))
            for name, value in scalars.items():
                tf.summary.scalar(f"neuromask/{name}", value)
        self._writer.flush()


def _as_labels(labels, count: int):
    """``None``, or int64 ``(count,)`` classes from ints or one-hot rows."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=-1)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"Expected one label per validation image ({count}), as ints or "
                         f"one-hot rows. Received: shape {np.shape(labels)}")
    return labels.astype(np.int64)


def _as_region(region, shape) -> np.ndarray:
    """The region map broadcast to ``(N, H, W)`` float32, values in [0, 1]."""
    values = np.asarray(region, np.float32)
    try:
        values = np.broadcast_to(values, shape)
    except ValueError as error:
        raise ValueError(f"Expected region of shape {shape[1:]} or {shape}. Received: "
                         f"{values.shape}") from error
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError("Expected region values in [0, 1]. Received: values outside")
    return values


__all__ = ["ExplainDuringTraining", "EpochExplanation", "PlateauStopping", "plateau_update"]
