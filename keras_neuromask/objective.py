"""NeuroMask's objective as a function of explicit inputs, apart from any Keras object.

For mask parameters ``w``, the grid mask ``m_g = sigmoid(w / T)`` and the image-size mask
``m`` (:func:`keras_neuromask.masking.mask_at_size`: ``bilinear(m_g)`` or
``sigmoid(bicubic(w) / T)``), the kept image ``x' = m x + (1 - m) b`` and the removed image
``x'' = (1 - m) x + m b_del``, the loss of one image is::

    L(w) = alpha * P(x') + delta * (-log(1 - p_c(x'')))
           + beta * sparsity(w, m) + gamma * smoothness(w, m_g)

with the preservation term ``P(x') = -log p_c(x')`` (``preservation_target="one"``: make the
class as sure as it can be) or ``P(x') = max(0, log p_c(x) - log p_c(x'))``
(``"original"``: keep the class at least as probable as on the whole image ``x``, and no
reward beyond; an explanation of the decision, not an amplification of it).

With ``"original"`` and ``relative_gap = g0`` the term is measured against the evidence the
baseline removes, ``g = log p_c(x) - log p_c(b)`` (nats, per image)::

    P(x') = max(0, log p_c(x) - log p_c(x')) / clip(g / g0, 0.01, 1)

unchanged where the baseline removes at least ``g0`` nats (real photos over a blur: g >= 3),
amplified up to 100x where it keeps most of the class, so the mask still has to restore
what the baseline loses instead of collapsing to nothing (the bound ``P <= g`` no longer
lets the area term win by default).

``fit`` (through :func:`keras_neuromask.optimisation.run_steps`), the exported graph and
:func:`keras_neuromask.explain_distributed` all evaluate this one :class:`Objective`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from keras_neuromask import losses, masking
from keras_neuromask.losses import LossTerms
from keras_neuromask.settings import Settings

SALIENCY_START_CELLS = 8  # the saliency start's finest scale, in grid cells a side
SALIENCY_START_SCALE = 2.0  # its amplitude A: w0 in init_value +- A


@dataclasses.dataclass(frozen=True)
class Objective:
    """Everything the optimisation of a mask needs besides the data.

    Args:
        settings: the hyper-parameters.
        classify: ``images -> (N, classes)`` float32 outputs of the frozen classifier (any
            ``preprocess`` already inside), in inference mode.
        from_logits: whether ``classify`` gives logits (else softmax probabilities).
        loss_scale: a static scale of the loss for the gradient (2^12 under float16).
        seed: seeds the uniform start and the noise baselines.
    """

    settings: Settings
    classify: Callable[[tf.Tensor], tf.Tensor]
    from_logits: bool
    loss_scale: float = 1.0
    seed: int = 0

    def initial_params(self, count, height: int, width: int, first_index=0, images=None,
                       baseline=None, targets=None) -> tf.Tensor:
        """The parameters' start for ``count`` images, ``(count, rows, cols, 1)``.

        ``"uniform"``: ``w ~ U(-limit, limit)`` seeded by ``(seed, image index)`` so an
        image's start does not depend on the rest of its batch; ``"constant"``: ``init_value``;
        ``"saliency"``: :meth:`saliency_start` (needs ``images``, ``baseline``, ``targets``).
        ``count`` may be a scalar tensor (a batch size only known in the graph).
        """
        s = self.settings
        shape = (*s.grid_shape(height, width), 1)
        init = s.start_for(height, width)
        if init == "saliency":
            if images is None or baseline is None or targets is None:
                raise ValueError("Expected images, baseline and targets for init='saliency'. "
                                 "Received: None")
            return self.saliency_start(images, baseline, targets)
        if init == "constant":
            return tf.fill(tf.concat([[count], shape], 0), tf.constant(s.init_value, tf.float32))
        indices = tf.range(count, dtype=tf.int32) + first_index
        return tf.map_fn(
            lambda index: tf.random.stateless_uniform(
                shape, seed=tf.stack([tf.constant(self.seed, tf.int32), index]),
                minval=-s.param_limit, maxval=s.param_limit),
            indices, fn_output_signature=tf.float32)

    def saliency_start(self, images, baseline, targets) -> tf.Tensor:
        """A start that already leans towards the evidence, from one backward pass::

            g  = d log p_c(x'(w)) / dw  at w = 0 (half of the image kept everywhere)
            g~ = bilinear(area(g))      (seen at no more than 8 x 8 cells)
            z  = (g~ - mean(g~)) / std(g~)     (per image)
            w0 = init_value + A tanh(z)       (A = SALIENCY_START_SCALE = 2)

        Cells whose reveal raises the class start revealed, the others hidden, so the
        optimisation starts near its answer instead of from a uniform half mask and settles in
        a third of the steps on 224-px photos (docs/performance.md). The gradient is coarsened
        to at most :data:`SALIENCY_START_CELLS` cells a side: on a finer grid (32-px images)
        it is a speckle that the optimisation has to undo.
        """
        s = self.settings
        size = tuple(images.shape[1:3])
        rows, cols = s.grid_shape(*size)
        zeros = tf.zeros(tf.stack([tf.shape(images)[0], rows, cols, 1]))
        with tf.GradientTape() as tape:
            tape.watch(zeros)
            kept = masking.blend(images, self.masks(zeros, size), baseline)
            evidence = -losses.preservation(self.classify(kept), targets,
                                            from_logits=self.from_logits)
            scaled = tf.reduce_sum(evidence) * self.loss_scale
        gradient = tape.gradient(scaled, zeros) / self.loss_scale
        coarse = (min(rows, SALIENCY_START_CELLS), min(cols, SALIENCY_START_CELLS))
        if coarse != (rows, cols):
            gradient = tf.image.resize(tf.image.resize(gradient, coarse, method="area"),
                                       (rows, cols), method="bilinear")
        mean, variance = tf.nn.moments(gradient, axes=[1, 2, 3], keepdims=True)
        standardised = (gradient - mean) / (tf.sqrt(variance) + 1e-12)
        # an image whose gradient is zero or not finite starts from the constant init_value
        standardised = tf.where(tf.math.is_finite(standardised), standardised, 0.0)
        return tf.stop_gradient(s.init_value + SALIENCY_START_SCALE * tf.tanh(standardised))

    def warm_start(self, params) -> tf.Tensor:
        """Given parameters (a mask predictor's) as a start the optimiser can still move::

            w0 = init_value + A tanh((w - init_value) / A)      (A = SALIENCY_START_SCALE)

        the range of :meth:`saliency_start`. The sign of every cell and small values stay as
        they are; saturated cells come back within reach: a predictor's cells reach |w| of
        100 and more, where the sigmoid's gradient is zero and Adam, at about ``lr`` per step,
        needs hundreds of steps to bring them back (docs/amortised.md, refinement).
        """
        return masking.soft_limit(params, self.settings.init_value, SALIENCY_START_SCALE)

    def baseline(self, images: tf.Tensor) -> tf.Tensor:
        """The baseline ``b`` of the kept image ``x'``."""
        return masking.make_baseline(images, self.settings.baseline, seed=self.seed,
                                     blur_sigma=self.settings.blur_sigma)

    def removed_fill(self, images: tf.Tensor):
        """``b_del``, what fills the removed region in the deletion game (None when
        ``delta = 0``)."""
        s = self.settings
        if not s.deletion_weight:
            return None
        return masking.make_baseline(images, s.deletion_baseline, seed=self.seed,
                                     blur_sigma=s.blur_sigma)

    def original_loss(self, images: tf.Tensor, targets: tf.Tensor):
        """``-log p_c(x)`` of the whole images, the preservation term's floor (None unless
        ``preservation_target="original"`` and ``alpha > 0``)."""
        s = self.settings
        if s.preservation_target != "original" or not s.preservation_weight:
            return None
        return tf.stop_gradient(losses.preservation(self.classify(images), targets,
                                                    from_logits=self.from_logits))

    def preservation_scale(self, baseline: tf.Tensor, targets: tf.Tensor, original_loss):
        """``1 / clip(g / g0, 0.01, 1)`` per image with ``g = log p_c(x) - log p_c(b)``, the
        preservation term's weight (None unless ``relative_gap`` is set and
        ``original_loss`` is given)."""
        gap = self.settings.relative_gap
        if gap is None or original_loss is None:
            return None
        baseline_loss = losses.preservation(self.classify(baseline), targets,
                                            from_logits=self.from_logits)
        evidence = tf.stop_gradient(baseline_loss - original_loss)
        scale = 1.0 / tf.clip_by_value(evidence / gap, 0.01, 1.0)
        # a classifier that is not finite on the baseline: the absolute term, so that only
        # images whose own optimisation fails are reported as failing
        return tf.where(tf.math.is_finite(evidence), scale, tf.ones_like(scale))

    def masks(self, params, size) -> tf.Tensor:
        """``(N, H, W, 1)`` masks ``m`` of parameters ``params`` at image size ``size``."""
        s = self.settings
        return masking.mask_at_size(params, size, s.temperature, s.upsampling)

    def terms(self, params, images, baseline, targets, removed_fill=None,
              original_loss=None, preservation_scale=None) -> LossTerms:
        """The per-image loss terms at ``params`` (the module docstring has the formula).

        ``removed_fill``, ``original_loss`` and ``preservation_scale`` are
        :meth:`removed_fill`, :meth:`original_loss` and :meth:`preservation_scale` of the
        images, made here when not given (:func:`keras_neuromask.optimisation.run_steps`
        makes them once per batch).
        """
        s = self.settings
        if removed_fill is None:
            removed_fill = self.removed_fill(images)
        if original_loss is None:
            original_loss = self.original_loss(images, targets)
        if preservation_scale is None:
            preservation_scale = self.preservation_scale(baseline, targets, original_loss)
        grid_mask = masking.mask_from_params(params, s.temperature)
        mask = self.masks(params, tuple(images.shape[1:3]))
        removed = None if removed_fill is None else masking.blend(images, 1.0 - mask,
                                                                  removed_fill)
        kept = masking.blend(images, mask, baseline)
        kept_out, removed_out = self._classify_games(kept, removed)
        zeros = tf.zeros(tf.shape(images)[:1])
        preservation = zeros if kept_out is None else losses.preservation(
            kept_out, targets, from_logits=self.from_logits)
        if original_loss is not None:
            preservation = tf.nn.relu(preservation - original_loss)
        if preservation_scale is not None:
            preservation = preservation * preservation_scale
        deletion = zeros if removed_out is None else losses.deletion(
            removed_out, targets, from_logits=self.from_logits)
        sparsity = losses.sparsity(s.sparsity, params, mask, s.param_limit, s.area)
        smoothness = losses.smoothness(s.smoothness, params, grid_mask)
        total = (s.preservation_weight * preservation + s.deletion_weight * deletion
                 + s.sparsity_weight * sparsity + s.smoothness_weight * smoothness)
        probability = losses.target_probability(  # of the game played (x' if both)
            removed_out if kept_out is None else kept_out, targets,
            from_logits=self.from_logits)
        return LossTerms(total, preservation, deletion, sparsity, smoothness, probability)

    def _classify_games(self, kept, removed):
        """The classifier's outputs on ``x'`` (when ``alpha > 0``) and ``x''`` (when given),
        in one call when both are needed."""
        if removed is None:
            return self.classify(kept), None
        if not self.settings.preservation_weight:
            return None, self.classify(removed)
        outputs = self.classify(tf.concat([kept, removed], 0))
        count = tf.shape(kept)[0]
        return outputs[:count], outputs[count:]


def loss_scale_for(classifier) -> float:
    """A static loss scale of 2^12 when the classifier computes in float16, else 1."""
    dtype = getattr(classifier, "compute_dtype", "float32")
    return 4096.0 if dtype == "float16" else 1.0


__all__ = ["Objective", "loss_scale_for"]
