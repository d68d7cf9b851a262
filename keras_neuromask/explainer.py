"""``NeuroMask``: a Keras model that learns explanation masks in front of a frozen classifier.

References:
    Alzantot, Widdicombe, Julier, Srivastava. "NeuroMask: Explaining Predictions of Deep
    Neural Networks through Mask Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask import inputs, losses, masking
from keras_neuromask.callbacks import PlateauStopping
from keras_neuromask.losses import LossTerms
from keras_neuromask.optimisation import run_steps
from keras_neuromask.optimizers import MaskOptimizer
from keras_neuromask.presets import get_preset


class Explanation(NamedTuple):
    """What :meth:`NeuroMask.explain` returns."""

    masks: np.ndarray  # float32 (N, H, W) in [0, 1]; 1 = kept, the evidence for the class
    targets: np.ndarray  # int64 (N,), the classes explained
    original_probability: np.ndarray  # float32 (N,), p(target | image)
    masked_probability: np.ndarray  # float32 (N,), p(target | masked image)
    steps: np.ndarray  # int64 (N,), optimisation steps taken for each image
    seconds: float  # wall time of the whole call


@keras.saving.register_keras_serializable(package="keras_neuromask")
class NeuroMask(keras.Model):
    """Learns, per image, the smallest smooth mask that keeps the classifier's decision.

    For mask parameters ``w`` and ``m = upsample(sigmoid(w / T))`` the masked image is
    ``x' = m x + (1 - m) b`` and, per image, the loss is::

        L(w) = alpha * (-log p_c(preprocess(x'))) + delta * (-log(1 - p_c(preprocess(x''))))
               + beta * sparsity + gamma * smoothness

    where ``x'' = (1 - m) x + m b_del`` removes the mask's region: the preservation game
    (``alpha``, the default) keeps the class with the mask's region alone, the deletion game
    (``delta``, preset ``"deletion"``) destroys it by removing that region.

    minimised over ``w`` only; the classifier is never changed (it is not even tracked as a
    sub-layer of this model, so no ``trainable`` flag is touched). Images of a batch are
    optimised together but independently: the batch loss is the sum of per-image losses.

    Args:
        classifier: a ``keras.Model`` with one image input and one ``(N, classes)`` output,
            logits or softmax probabilities.
        preset: ``"default"``, ``"paper-cifar"`` or ``"paper-imagenet"``
            (:mod:`keras_neuromask.presets`); each keyword below set to non-``None``
            overrides it.
        steps: optimisation steps per batch.
        init, init_value, param_limit, temperature, preservation_weight, sparsity_weight,
            smoothness_weight, deletion_weight, deletion_baseline, sparsity, smoothness,
            optimizer, learning_rate, baseline, blur_sigma, mask_grid: see
            :mod:`keras_neuromask.presets`.
            ``baseline`` may also be an image broadcastable to the batch.
        seed: seeds the random init and the noise baseline; results repeat run to run on CPU.
        preprocess: a TF function applied to the masked image before the classifier, for
            models whose preprocessing lives outside (``keras.applications.*``).
        batch_size: images optimised together by :meth:`explain`.
        jit_compile: compile each optimisation step with XLA (for GPUs; slower on CPU).
        classifier_output: ``"auto"`` (detect a softmax), ``"logits"`` or ``"probabilities"``.
        early_stopping: stop a batch's optimisation once its mean loss has plateaued
            (:class:`keras_neuromask.callbacks.PlateauStopping`, whose docstring has the
            rule): ``False``/``None`` (off: all ``steps``), ``True`` (its defaults), a dict of its
            arguments, or a ``PlateauStopping``. When on, an epoch is the largest divisor of
            ``steps`` up to 25 steps (else up to 50), and ``Explanation.steps`` says how many
            steps each image took. All images of a batch stop together (on the batch's mean
            loss), so a mask then depends on the batch it was optimised with.

    Example:
        >>> explainer = NeuroMask(classifier, steps=300)
        >>> result = explainer.explain(images)       # (N, H, W, C) or (H, W, C)
        >>> result.masks.shape                        # (N, H, W), values in [0, 1]
    """

    def __init__(self, classifier, *, preset: str = "default", steps: int | None = None,
                 init: str | None = None, init_value: float | None = None,
                 param_limit: float | None = None, temperature: float | None = None,
                 preservation_weight: float | None = None,
                 sparsity_weight: float | None = None, smoothness_weight: float | None = None,
                 deletion_weight: float | None = None, deletion_baseline: str | None = None,
                 sparsity: str | None = None, smoothness: str | None = None,
                 optimizer: str | None = None, learning_rate: float | None = None,
                 baseline=None, mask_grid=None, seed: int = 0, preprocess=None,
                 batch_size: int = 16, jit_compile: bool = False,
                 classifier_output: str = "auto", blur_sigma: float | None = None,
                 early_stopping=False, **kwargs):
        # The mask, its maths and the optimiser stay float32 whatever the global policy; the
        # classifier keeps its own (e.g. mixed_float16 on a GPU).
        super().__init__(**{"dtype": "float32", **kwargs})
        inputs.check_classifier(classifier)
        object.__setattr__(self, "_classifier", classifier)  # untracked: never trained/saved
        overrides = dict(steps=steps, init=init, init_value=init_value, param_limit=param_limit,
                         temperature=temperature, preservation_weight=preservation_weight,
                         sparsity_weight=sparsity_weight, smoothness_weight=smoothness_weight,
                         sparsity=sparsity, smoothness=smoothness, optimizer=optimizer,
                         learning_rate=learning_rate, baseline=baseline, mask_grid=mask_grid,
                         deletion_weight=deletion_weight, deletion_baseline=deletion_baseline,
                         blur_sigma=blur_sigma)
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        self.preset = preset
        self.settings = _resolve_settings(preset, self._overrides)
        self.seed = inputs.check_int("seed", seed, minimum=0)
        self.batch_size = inputs.check_int("batch_size", batch_size, minimum=1)
        if preprocess is not None and not callable(preprocess):
            raise TypeError(f"Expected preprocess to be None or callable. Received: "
                            f"{preprocess!r}")
        self.preprocess = preprocess
        self.jit_compile = bool(jit_compile)
        if classifier_output not in ("auto", "logits", "probabilities"):
            raise ValueError("Expected classifier_output in ('auto', 'logits', 'probabilities')."
                             f" Received: {classifier_output!r}")
        self.classifier_output = classifier_output
        self._from_logits = None if classifier_output == "auto" else (
            classifier_output == "logits")
        self.early_stopping = _plateau_stopping(early_stopping)  # a PlateauStopping or None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LossTerms._fields}
        self.mask_params = None
        self._compiled_for = None
        self._trace_count = 0

    @property
    def classifier(self) -> keras.Model:
        """The frozen classifier being explained."""
        return self._classifier

    @property
    def steps_per_epoch(self) -> int | None:
        """Optimisation steps per Keras epoch of the last ``fit`` (one ``train_step`` runs
        them all); ``None`` before the first."""
        return None if self._compiled_for is None else self._compiled_for[1]

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ----------------------------------------------------------------- the maths (pure)
    def grid_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(rows, cols)`` of the mask parameters for images of ``height`` x ``width``."""
        grid = self.settings["mask_grid"]
        if grid is None:
            return height, width
        return min(grid[0], height), min(grid[1], width)

    def initial_params(self, count, height: int, width: int, first_index=0) -> tf.Tensor:
        """The parameters' start for ``count`` images, ``(count, rows, cols, 1)``.

        ``"uniform"``: ``w ~ U(-limit, limit)`` seeded by ``(seed, image index)`` so an
        image's start does not depend on the rest of its batch; ``"constant"``: ``init_value``.
        ``count`` may be a scalar tensor (a batch size only known in the graph).
        """
        shape = (*self.grid_shape(height, width), 1)
        if self.settings["init"] == "constant":
            return tf.fill(tf.concat([[count], shape], 0),
                           tf.constant(self.settings["init_value"], tf.float32))
        limit = self.settings["param_limit"]
        indices = tf.range(count, dtype=tf.int32) + first_index
        return tf.map_fn(
            lambda index: tf.random.stateless_uniform(
                shape, seed=tf.stack([tf.constant(self.seed, tf.int32), index]),
                minval=-limit, maxval=limit),
            indices, fn_output_signature=tf.float32)

    def baseline_for(self, images: tf.Tensor) -> tf.Tensor:
        """The baseline ``b`` for a batch of images."""
        return masking.make_baseline(images, self.settings["baseline"], seed=self.seed,
                                     blur_sigma=self.settings["blur_sigma"])

    def removed_fill_for(self, images: tf.Tensor):
        """What fills the removed region in the deletion game (None when it is not played)."""
        s = self.settings
        if not s["deletion_weight"]:
            return None
        return masking.make_baseline(images, s["deletion_baseline"], seed=self.seed,
                                     blur_sigma=s["blur_sigma"])

    def masks_from_params(self, params, size) -> tf.Tensor:
        """``(N, H, W, 1)`` masks of parameters ``params`` at image size ``size``."""
        return masking.upsample(masking.mask_from_params(params, self.settings["temperature"]),
                                size)

    def classify(self, images: tf.Tensor) -> tf.Tensor:
        """The classifier's output on images (after ``preprocess``), in inference mode."""
        if self.preprocess is not None:
            images = self.preprocess(images)
        outputs = inputs.check_outputs(self._classifier(images, training=False))
        return tf.cast(outputs, tf.float32)  # float32 losses under mixed precision too

    def objective(self, params, images, baseline, targets, removed_fill=None) -> LossTerms:
        """The per-image loss terms for parameters ``params`` (a pure function of them).

        ``fit``, the exported graph and :func:`explain_distributed` all run this function.
        ``removed_fill`` is :meth:`removed_fill_for` of the images, made here when not given
        (:func:`keras_neuromask.optimisation.run_steps` makes it once per batch, like the
        baseline).
        """
        s = self.settings
        if removed_fill is None:
            removed_fill = self.removed_fill_for(images)
        grid_mask, kept, removed = self._mask_maths(params, images, baseline, removed_fill)
        kept_out, removed_out = self._classify_games(kept, removed)
        zeros = tf.zeros(tf.shape(images)[:1])
        preservation = zeros if kept_out is None else losses.preservation(
            kept_out, targets, from_logits=self._from_logits)
        deletion = zeros if removed_out is None else losses.deletion(
            removed_out, targets, from_logits=self._from_logits)
        sparsity = losses.sparsity(s["sparsity"], params, grid_mask, s["param_limit"])
        smoothness = losses.smoothness(s["smoothness"], params, grid_mask)
        total = (s["preservation_weight"] * preservation + s["deletion_weight"] * deletion
                 + s["sparsity_weight"] * sparsity + s["smoothness_weight"] * smoothness)
        probability = losses.target_probability(  # of the game played (x' if both)
            removed_out if kept_out is None else kept_out, targets,
            from_logits=self._from_logits)
        return LossTerms(total, preservation, deletion, sparsity, smoothness, probability)

    def _classify_games(self, kept, removed):
        """The classifier's outputs on ``x'`` (when ``alpha > 0``) and ``x''`` (when given),
        in one call when both are needed."""
        if removed is None:
            return self.classify(kept), None
        if not self.settings["preservation_weight"]:
            return None, self.classify(removed)
        outputs = self.classify(tf.concat([kept, removed], 0))
        count = tf.shape(kept)[0]
        return outputs[:count], outputs[count:]

    def _mask_maths(self, params, images, baseline, removed_fill=None):
        """``(m_grid, x', x'')``: the grid mask ``sigmoid(w / T)``, the images masked by it
        and, when ``removed_fill`` is given, the images with its region removed (else None)."""
        grid_mask = masking.mask_from_params(params, self.settings["temperature"])
        mask = masking.upsample(grid_mask, tuple(images.shape[1:3]))
        removed = (None if removed_fill is None
                   else masking.blend(images, 1.0 - mask, removed_fill))
        return grid_mask, masking.blend(images, mask, baseline), removed

    # ------------------------------------------------------------------- Keras hooks
    def build(self, input_shape):
        count, height, width = int(input_shape[0]), int(input_shape[1]), int(input_shape[2])
        if self.mask_params is not None:  # a new batch shape: replace the variable
            del self.mask_params  # untracks the old one
            self._tracker.unlock()  # Keras locks state after the first build
        self.mask_params = self.add_weight(
            shape=(count, *self.grid_shape(height, width), 1), initializer="zeros",
            trainable=True, name="mask_params")
        self.built = True

    def call(self, images):
        """The classifier's output on the images masked by the current mask."""
        mask = self.masks_from_params(self.mask_params, tuple(images.shape[1:3]))
        return self.classify(masking.blend(images, mask, self.baseline_for(images)))

    def train_step(self, data):
        """One epoch: :attr:`steps_per_epoch` optimisation steps in one in-graph loop
        (:func:`keras_neuromask.optimisation.run_steps`); each tracker gets each image's mean
        of its term over those steps."""
        images, targets = data
        self._trace_count += 1  # Python side effect: counts traces, not steps
        count = self.steps_per_epoch
        slots = self.optimizer.slots_for(self.mask_params)
        params, new_slots, step, sums = run_steps(
            self, tf.convert_to_tensor(self.mask_params),
            tuple(tf.convert_to_tensor(slot) for slot in slots), self.optimizer.iterations,
            images, self.baseline_for(images), targets, count, jit_compile=self.jit_compile)
        self.mask_params.assign(params)
        for slot, value in zip(slots, new_slots):
            slot.assign(value)
        self.optimizer.iterations.assign(tf.cast(step, self.optimizer.iterations.dtype))
        for name, total in zip(LossTerms._fields, sums):
            self.trackers[name].update_state(total / count)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def make_train_function(self, force=False):
        """Keras' train function, never XLA-compiled as a whole: with ``jit_compile``,
        :func:`~keras_neuromask.optimisation.run_steps` compiles each step instead (an XLA
        ``while`` loop made ``fit`` 6-8x slower than the model on CPU)."""
        xla = self.jit_compile
        self.jit_compile = False
        try:
            return super().make_train_function(force)
        finally:
            self.jit_compile = xla  # read by train_step when it is traced, after this

    # --------------------------------------------------------------------- public API
    def fit(self, images, targets=None, *, steps: int | None = None,
            steps_per_epoch: int | None = None, callbacks=None, verbose="auto", **kwargs):
        """Learns masks for one batch of images (all at once); returns Keras' ``History``.

        Each epoch is ``steps_per_epoch`` optimisation steps on the same batch (default: the
        largest divisor of ``steps`` up to 50, or up to 25 with ``early_stopping``), run by
        one ``train_step`` as one in-graph loop; so callbacks such as
        ``EarlyStopping(monitor="loss")`` or ``CSVLogger`` see one row per epoch. The masks
        are then in :meth:`current_masks`.

        Args:
            images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
            targets: ``None`` (the predicted classes), one int, or one int per image.
            steps: total steps, default the preset's.
            steps_per_epoch: steps per epoch (must divide ``steps``).
            callbacks, verbose: as in ``keras.Model.fit``.
        """
        if kwargs:
            raise TypeError(f"Expected only images, targets, steps, steps_per_epoch, callbacks"
                            f" and verbose. Received: {sorted(kwargs)}")
        batch, _ = inputs.as_image_batch(images)
        inputs.check_image_shape(batch, self._classifier, self.preprocess is not None)
        self._warn_on_value_range(batch)
        batch_targets, _ = self._targets_and_probability(batch, targets)
        return self._fit_batch(batch, batch_targets, 0, steps, steps_per_epoch, callbacks,
                               verbose)

    def explain(self, images, targets=None, *, steps: int | None = None,
                batch_size: int | None = None, callbacks=None, verbose=0) -> Explanation:
        """Explains each image's target class by a learned mask.

        Images are optimised ``batch_size`` at a time; every batch of the same size reuses
        one compiled step (the mask and the optimiser are reset by assignment).

        Args:
            images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``; numpy or tensor,
                float or integer (values reach the classifier unchanged, as float32).
            targets: ``None`` (explain the predicted class), one int, or one int per image.
            steps: optimisation steps, default the preset's.
            batch_size: images per batch, default the explainer's ``batch_size``.
            callbacks, verbose: passed to :meth:`fit` for each batch.

        Returns:
            An :class:`Explanation`.
        """
        start = time.perf_counter()
        batch, _ = inputs.as_image_batch(images)
        inputs.check_image_shape(batch, self._classifier, self.preprocess is not None)
        self._warn_on_value_range(batch)
        size = inputs.check_int(
            "batch_size", self.batch_size if batch_size is None else batch_size, minimum=1)
        all_targets, original = self._targets_and_probability(batch, targets)
        masks, masked, steps_taken = [], [], []
        for first in range(0, len(batch), size):
            chunk = slice(first, first + size)
            history = self._fit_batch(batch[chunk], all_targets[chunk], first, steps, None,
                                      callbacks, verbose)
            masks.append(self.current_masks())
            masked.append(self._masked_probability(batch[chunk], all_targets[chunk]))
            bad = np.flatnonzero(~np.isfinite(masks[-1]).all(axis=(1, 2))
                                 | ~np.isfinite(masked[-1]))
            if bad.size:
                raise FloatingPointError(
                    "Expected a finite loss. Received: NaN or Inf during the optimisation of "
                    f"image(s) {(bad + first).tolist()} (check the classifier's outputs on "
                    "masked images, the learning rate and the loss weights)")
            taken = len(history.epoch) * self.steps_per_epoch
            steps_taken.append(np.full(len(masks[-1]), taken, np.int64))
        return Explanation(np.concatenate(masks), all_targets, original, np.concatenate(masked),
                           np.concatenate(steps_taken), time.perf_counter() - start)

    def current_masks(self) -> np.ndarray:
        """The masks of the last batch fitted, float32 ``(N, H, W)`` in [0, 1]."""
        if self.mask_params is None:
            raise ValueError("Expected fit() or explain() to have run. Received: no masks yet")
        masks = self.masks_from_params(self.mask_params, self._image_size)
        return masks.numpy()[..., 0].astype(np.float32)

    # -------------------------------------------------------------------- internals
    def _loss_scale(self) -> float:
        """A static loss scale of 2^12 when the classifier computes in float16, else 1."""
        dtype = getattr(self._classifier, "compute_dtype", "float32")
        return 4096.0 if dtype == "float16" else 1.0

    def _checked_steps(self, steps) -> int:
        """``steps`` (the preset's when ``None``) as an int >= 1, or ValueError."""
        return inputs.check_int("steps", self.settings["steps"] if steps is None else steps,
                                minimum=1)

    def _warn_on_value_range(self, batch: np.ndarray) -> None:
        """The paper presets were tuned on images in [0, 1]; say so when pixels are not."""
        if self.preset.startswith("paper") and (batch.min() < 0 or batch.max() > 1):
            warnings.warn(
                f"The {self.preset!r} preset reproduces the reference code, whose images are "
                f"in [0, 1]; these range over [{batch.min():.3g}, {batch.max():.3g}]. Scale "
                "them and move the scaling into `preprocess=` to match the paper.",
                UserWarning, stacklevel=3)

    def _targets_and_probability(self, batch: np.ndarray, targets):
        """Targets (argmax when ``None``) and their probability on the unmasked images."""
        try:
            outputs = self._predict(batch)
        except (ValueError, tf.errors.InvalidArgumentError) as error:
            if self.preprocess is None or str(error).startswith("Expected"):
                raise
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError("Expected images the classifier accepts after preprocess. "
                             f"Received: shape {batch.shape} ({type(error).__name__}: "
                             f"{first})") from error
        if self._from_logits is None:
            self._from_logits = not _looks_like_probabilities(self._classifier, outputs)
        checked = inputs.as_targets(targets, len(batch), outputs.shape[-1])
        chosen = np.argmax(outputs, axis=-1).astype(np.int64) if checked is None else checked
        probability = losses.target_probability(tf.constant(outputs), tf.constant(chosen),
                                                from_logits=self._from_logits)
        return chosen, probability.numpy().astype(np.float32)

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        parts = [self.classify(tf.constant(batch[i:i + self.batch_size])).numpy()
                 for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(parts).astype(np.float32)

    def _masked_probability(self, batch, targets) -> np.ndarray:
        images = tf.constant(batch)
        outputs = self(images)
        return losses.target_probability(outputs, tf.constant(targets),
                                         from_logits=self._from_logits).numpy()

    def _fit_batch(self, batch, targets, first_index, steps, steps_per_epoch, callbacks,
                   verbose):
        steps = self._checked_steps(steps)
        per_epoch = _steps_per_epoch(steps, steps_per_epoch, self.early_stopping is not None)
        self._prepare(batch.shape, per_epoch)
        count, height, width = batch.shape[:3]
        self.mask_params.assign(self.initial_params(count, height, width, first_index))
        self.optimizer.reset()
        self.stop_training = False
        data = tf.data.Dataset.from_tensors((tf.constant(batch), tf.constant(targets))).repeat()
        if self.early_stopping is not None:  # after the user's: they see every epoch it runs
            callbacks = [*(callbacks or []), self.early_stopping]
        return super().fit(data, epochs=steps // per_epoch, steps_per_epoch=1,
                           callbacks=callbacks, verbose=verbose, shuffle=False)

    def _prepare(self, shape, per_epoch: int) -> None:
        """(Re)builds the mask variable and compiles the step when the batch shape changes."""
        key = (tuple(shape), per_epoch)
        if self._compiled_for == key:
            return
        if self._compiled_for is None or self._compiled_for[0] != key[0]:
            self.build(shape)
        self._image_size = tuple(shape[1:3])
        self.compile(optimizer=MaskOptimizer(self.settings["optimizer"],
                                             self.settings["learning_rate"]),
                     jit_compile=self.jit_compile)
        self.optimizer.build([self.mask_params])
        self._compiled_for = key

    def get_config(self):
        baseline = self._overrides.get("baseline")
        overrides = dict(self._overrides)
        if baseline is not None and not isinstance(baseline, str):
            overrides["baseline"] = np.asarray(baseline).tolist()
        return {
            **super().get_config(),
            "classifier": keras.saving.serialize_keras_object(self._classifier),
            "preset": self.preset, **overrides, "seed": self.seed,
            "preprocess": (None if self.preprocess is None
                           else keras.saving.serialize_keras_object(self.preprocess)),
            "batch_size": self.batch_size, "jit_compile": self.jit_compile,
            "classifier_output": self.classifier_output,
            "early_stopping": (False if self.early_stopping is None
                               else self.early_stopping.get_config()),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        if config.get("preprocess") is not None:
            config["preprocess"] = keras.saving.deserialize_keras_object(config["preprocess"])
        if isinstance(config.get("mask_grid"), list):
            config["mask_grid"] = tuple(config["mask_grid"])
        return cls(**config)


def _resolve_settings(preset: str, overrides: dict) -> dict:
    settings = {**get_preset(preset), **overrides}
    if settings["init"] not in ("uniform", "constant"):
        raise ValueError(f"Expected init in ('uniform', 'constant'). Received: "
                         f"{settings['init']!r}")
    if settings["sparsity"] not in losses.SPARSITY_TERMS:
        raise ValueError(f"Expected sparsity in {losses.SPARSITY_TERMS}. Received: "
                         f"{settings['sparsity']!r}")
    if settings["smoothness"] not in losses.SMOOTHNESS_TERMS:
        raise ValueError(f"Expected smoothness in {losses.SMOOTHNESS_TERMS}. Received: "
                         f"{settings['smoothness']!r}")
    if settings["optimizer"] not in ("adam", "rmsprop"):
        raise ValueError(f"Expected optimizer in ('adam', 'rmsprop'). Received: "
                         f"{settings['optimizer']!r}")
    for key in ("temperature", "learning_rate", "param_limit"):
        value = settings[key]
        if not (_is_number(value) and math.isfinite(value) and np.float32(value) > 0):
            raise ValueError(f"Expected {key} to be a finite number > 0. Received: {value!r}")
        settings[key] = float(value)
    for key in ("preservation_weight", "deletion_weight", "sparsity_weight",
                "smoothness_weight"):
        value = settings[key]
        if not (_is_number(value) and math.isfinite(value) and value >= 0):
            raise ValueError(f"Expected {key} to be a finite number >= 0. Received: {value!r}")
        settings[key] = float(value)
    settings["steps"] = inputs.check_int("steps", settings["steps"], minimum=1)
    sigma = settings["blur_sigma"]
    if sigma is not None and not (_is_number(sigma) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"Expected blur_sigma to be None or a finite number > 0. "
                         f"Received: {sigma!r}")
    if not settings["preservation_weight"] and not settings["deletion_weight"]:
        raise ValueError("Expected preservation_weight or deletion_weight > 0 (a game to "
                         "play). Received: both 0")
    if settings["deletion_baseline"] not in masking.BASELINES:
        raise ValueError(f"Expected deletion_baseline in {masking.BASELINES}. Received: "
                         f"{settings['deletion_baseline']!r}")
    if isinstance(settings["baseline"], str) and settings["baseline"] not in masking.BASELINES:
        raise ValueError(f"Expected baseline in {masking.BASELINES} or an image. Received: "
                         f"{settings['baseline']!r}")
    baseline = settings["baseline"]
    if baseline is not None and not isinstance(baseline, str):
        try:
            values = np.asarray(baseline, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or not np.isfinite(values).all():
            raise ValueError("Expected baseline to be a name or an image of finite numbers. "
                             f"Received: {type(baseline).__name__}")
    grid = settings["mask_grid"]
    if grid is not None:
        if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
            grid = (grid, grid)
        elif isinstance(grid, (tuple, list)):
            grid = tuple(grid)
        else:
            grid = ()
        if len(grid) != 2 or not all(isinstance(g, (int, np.integer))
                                     and not isinstance(g, bool) and g >= 1 for g in grid):
            raise ValueError(f"Expected mask_grid as None, an int or (rows, cols) of positive "
                             f"ints. Received: {settings['mask_grid']!r}")
        settings["mask_grid"] = grid
    return settings


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _plateau_stopping(value) -> PlateauStopping | None:
    """The ``early_stopping`` option as a callback (``None`` when off)."""
    if isinstance(value, PlateauStopping):
        return value
    if value is None or value is False:
        return None
    if value is True:
        return PlateauStopping()
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"min_relative_improvement", "patience", "min_steps"})
        if unknown:
            raise TypeError("Expected early_stopping's keys among min_relative_improvement, "
                            f"patience and min_steps. Received: {unknown}")
        return PlateauStopping(**value)
    raise TypeError("Expected early_stopping as a bool, a dict of PlateauStopping arguments "
                    f"or a PlateauStopping. Received: {value!r}")


def _steps_per_epoch(steps: int, requested: int | None, early_stopping: bool = False) -> int:
    """``requested`` (checked), else the largest divisor of ``steps`` up to 50 (25 with
    early stopping, so the plateau test sees short windows)."""
    if requested is not None:
        requested = inputs.check_int("steps_per_epoch", requested, minimum=1)
        if steps % requested:
            raise ValueError(f"Expected steps_per_epoch to divide steps ({steps}). "
                             f"Received: {requested}")
        return requested
    limit = 25 if early_stopping else 50
    return max(d for d in range(1, min(steps, limit) + 1) if steps % d == 0)


def _looks_like_probabilities(classifier, outputs: np.ndarray) -> bool:
    """A softmax output: the last layer is a softmax, or rows are >= 0 and sum to 1."""
    last = classifier.layers[-1] if getattr(classifier, "layers", None) else None
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or activation is keras.activations.softmax:
        return True
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1.0, atol=1e-3))


__all__ = ["NeuroMask", "Explanation", "LossTerms"]
