"""``NeuroMask``: a Keras model that learns explanation masks in front of a frozen classifier.

References:
    Alzantot, Widdicombe, Julier, Srivastava. "NeuroMask: Explaining Predictions of Deep
    Neural Networks through Mask Learning". SMARTCOMP 2019, arXiv:1908.04389.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask import inputs, losses, masking, saving
from keras_neuromask.losses import LossTerms
from keras_neuromask.objective import Objective, loss_scale_for
from keras_neuromask.optimisation import epoch_length, even_batches, run_steps
from keras_neuromask.optimizers import MaskOptimizer
from keras_neuromask.predictions import looks_like_probabilities, predict_in_chunks
from keras_neuromask.settings import Settings
from keras_neuromask.stopping import PlateauStopping


class Explanation(NamedTuple):
    """What :meth:`NeuroMask.explain` returns."""

    masks: np.ndarray  # float32 (N, H, W) in [0, 1]; 1 = kept, the evidence for the class
    targets: np.ndarray  # int64 (N,), the classes explained
    original_probability: np.ndarray  # float32 (N,), p(target | image)
    masked_probability: np.ndarray  # float32 (N,), p(target | masked image)
    steps: np.ndarray  # int64 (N,), optimisation steps taken for each image
    seconds: float  # wall time of the whole call
    # float32 (N,), p(target | baseline image): what the hidden image alone keeps. Near
    # original_probability (baseline_keeps_class), nothing needs keeping: the mask is then a
    # ranking of what restores the rest, not the evidence for the class
    baseline_probability: np.ndarray

    def baseline_keeps_class(self, ratio: float = 0.5) -> np.ndarray:
        """Bool ``(N,)``: the baseline alone keeps the class, ``p(c | b) >= ratio * p(c | x)``.

        Where true the honest answer is "nothing needs keeping" for this baseline: choose
        another (``baseline="zero"``, ``"mean"``, an image) or read the mask as a ranking.
        """
        return self.baseline_probability >= ratio * self.original_probability


class CheckedInputs(NamedTuple):
    """What :meth:`NeuroMask.checked_inputs` returns: a batch ready to explain."""

    images: np.ndarray  # float32 (N, H, W, C), checked against the classifier
    targets: np.ndarray  # int64 (N,), the classes to explain
    original_probability: np.ndarray  # float32 (N,), p(target | image)


@keras.saving.register_keras_serializable(package="keras_neuromask")
class NeuroMask(keras.Model):
    """Learns, per image, the smallest smooth mask that keeps the classifier's decision.

    For mask parameters ``w`` and the mask ``m`` (default: ``w`` on an 8x8 grid,
    ``m = sigmoid(bicubic(w) / T)`` at the image's size) the masked image is
    ``x' = m x + (1 - m) b`` and, per image, the loss is::

        L(w) = alpha * P(preprocess(x')) + delta * (-log(1 - p_c(preprocess(x''))))
               + beta * sparsity + gamma * smoothness

    where ``x'' = (1 - m) x + m b_del`` removes the mask's region: the preservation game
    (``alpha``, the default) keeps the class with the mask's region alone (default
    ``P = max(0, log p_c(x) - log p_c(x'))``: at least as probable as on the whole image; the
    paper's ``-log p_c(x')``), the deletion game (``delta``, preset ``"deletion"``) destroys
    it by removing that region.

    The loss is minimised over ``w`` only; the classifier is never changed (it is not even
    tracked as a sub-layer of this model, so no ``trainable`` flag is touched). Images of a
    batch are optimised together but independently: the batch loss is the sum of per-image
    losses. The maths is the :class:`~keras_neuromask.objective.Objective` of
    :meth:`mask_objective`; this class holds the Keras hooks and the public API.

    Args:
        classifier: a ``keras.Model`` with one image input and one ``(N, classes)`` output,
            logits or softmax probabilities.
        preset: a name in :data:`keras_neuromask.presets.PRESETS` (``"default"``,
            ``"deletion"``, ``"paper-cifar"``, ``"paper-imagenet"``); each keyword below set
            to non-``None`` overrides it (the result is :attr:`settings`, a
            :class:`~keras_neuromask.settings.Settings`).
        steps: optimisation steps per batch.
        init, init_value, param_limit, temperature, preservation_weight,
            preservation_target, sparsity_weight, smoothness_weight, deletion_weight,
            deletion_baseline, sparsity, smoothness, optimizer, learning_rate, baseline,
            blur_sigma, mask_grid, upsampling, area, relative_gap: see
            :mod:`keras_neuromask.presets`. ``area`` alone (without ``sparsity``) also sets
            ``sparsity="area"``.
            ``baseline`` may also be an image broadcastable to the batch.
        seed: seeds the random init and the noise baseline. Masks repeat bit for bit run
            after run on CPU after :func:`keras_neuromask.enable_repeatable_masks`.
        preprocess: a TF function applied to the masked image before the classifier, for
            models whose preprocessing lives outside (``keras.applications.*``).
        batch_size: images optimised together by :meth:`explain`.
        jit_compile: compile each optimisation step with XLA (for GPUs; slower on CPU).
        classifier_output: ``"auto"`` (detect a softmax), ``"logits"`` or ``"probabilities"``.
        early_stopping: stop a batch's optimisation once its mean loss has plateaued
            (:class:`keras_neuromask.stopping.PlateauStopping`, whose docstring has the
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
                 preservation_target: str | None = None,
                 sparsity_weight: float | None = None, smoothness_weight: float | None = None,
                 deletion_weight: float | None = None, deletion_baseline: str | None = None,
                 sparsity: str | None = None, smoothness: str | None = None,
                 optimizer: str | None = None, learning_rate: float | None = None,
                 baseline=None, mask_grid=None, upsampling: str | None = None,
                 area: float | None = None, seed: int = 0, preprocess=None,
                 batch_size: int = 16, jit_compile: bool = False,
                 classifier_output: str = "auto", blur_sigma: float | None = None,
                 early_stopping=False, relative_gap: float | None = None, **kwargs):
        # The mask, its maths and the optimiser stay float32 whatever the global policy; the
        # classifier keeps its own (e.g. mixed_float16 on a GPU).
        super().__init__(**{"dtype": "float32", **kwargs})
        inputs.check_classifier(classifier)
        object.__setattr__(self, "_classifier", classifier)  # untracked: never trained/saved
        overrides = dict(steps=steps, init=init, init_value=init_value, param_limit=param_limit,
                         temperature=temperature, preservation_weight=preservation_weight,
                         preservation_target=preservation_target,
                         sparsity_weight=sparsity_weight, smoothness_weight=smoothness_weight,
                         sparsity=sparsity, smoothness=smoothness, optimizer=optimizer,
                         learning_rate=learning_rate, baseline=baseline, mask_grid=mask_grid,
                         upsampling=upsampling, area=area,
                         deletion_weight=deletion_weight, deletion_baseline=deletion_baseline,
                         blur_sigma=blur_sigma, relative_gap=relative_gap)
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        if area is not None and sparsity is None:  # area=a means the area constraint
            self._overrides["sparsity"] = "area"
        self.preset = preset
        self.settings = Settings.from_preset(preset, **self._overrides)
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
    def from_logits(self) -> bool | None:
        """Whether the classifier gives logits; ``None`` until ``"auto"`` has seen outputs."""
        return self._from_logits

    @property
    def steps_per_epoch(self) -> int | None:
        """Optimisation steps per Keras epoch of the last ``fit`` (one ``train_step`` runs
        them all); ``None`` before the first."""
        return None if self._compiled_for is None else self._compiled_for[1]

    @property
    def metrics(self):
        return list(self.trackers.values())

    def classify(self, images: tf.Tensor) -> tf.Tensor:
        """The classifier's output on images (after ``preprocess``), in inference mode."""
        if self.preprocess is not None:
            images = self.preprocess(images)
        outputs = inputs.check_outputs(self._classifier(images, training=False))
        return tf.cast(outputs, tf.float32)  # float32 losses under mixed precision too

    # ------------------------------------------------------------------- Keras hooks
    def build(self, input_shape):
        count, height, width = int(input_shape[0]), int(input_shape[1]), int(input_shape[2])
        if self.mask_params is not None:  # a new batch shape: replace the variable
            del self.mask_params  # untracks the old one
            self._tracker.unlock()  # Keras locks state after the first build
        self.mask_params = self.add_weight(
            shape=(count, *self.settings.grid_shape(height, width), 1), initializer="zeros",
            trainable=True, name="mask_params")
        self.built = True

    def call(self, images):
        """The classifier's output on the images masked by the current mask."""
        objective = self.mask_objective(tuple(images.shape[1:]))
        mask = objective.masks(self.mask_params, tuple(images.shape[1:3]))
        return self.classify(masking.blend(images, mask, objective.baseline(images)))

    def train_step(self, data):
        """One epoch: :attr:`steps_per_epoch` optimisation steps in one in-graph loop
        (:func:`keras_neuromask.optimisation.run_steps`); each tracker gets each image's mean
        of its term over those steps."""
        images, targets = data
        self._trace_count += 1  # Python side effect: counts traces, not steps
        count = self.steps_per_epoch
        slots = self.optimizer.slots_for(self.mask_params)
        objective = self.mask_objective()
        params, new_slots, step, sums = run_steps(
            objective, tf.convert_to_tensor(self.mask_params),
            tuple(tf.convert_to_tensor(slot) for slot in slots), self.optimizer.iterations,
            images, objective.baseline(images), targets, count, jit_compile=self.jit_compile)
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
        checked = self.checked_inputs(images, targets)
        return self._fit_batch(checked.images, checked.targets, 0, steps, steps_per_epoch,
                               callbacks, verbose)

    def explain(self, images, targets=None, *, steps: int | None = None,
                batch_size: int | None = None, callbacks=None, verbose=0) -> Explanation:
        """Explains each image's target class by a learned mask.

        Images are optimised at most ``batch_size`` at a time, in batches of one size
        (:func:`~keras_neuromask.optimisation.even_batches`: 24 images at 16 run as 12 + 12,
        17 as 9 + 9 with one image repeated), so one compiled step serves them all (the mask
        and the optimiser are reset by assignment).

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
        batch, all_targets, original = self.checked_inputs(images, targets)
        size = inputs.check_int(
            "batch_size", self.batch_size if batch_size is None else batch_size, minimum=1)
        masks, masked, steps_taken = [], [], []
        baseline_probability = self.baseline_probability(batch, all_targets)
        for first, stop, padding in even_batches(len(batch), size):
            rows = np.concatenate([np.arange(first, stop), np.full(padding, stop - 1)])
            history = self._fit_batch(batch[rows], all_targets[rows], first, steps, None,
                                      callbacks, verbose)
            masks.append(self.current_masks()[:stop - first])
            masked.append(self._masked_probability(batch[rows],
                                                   all_targets[rows])[:stop - first])
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
                           np.concatenate(steps_taken), time.perf_counter() - start,
                           baseline_probability)

    def baseline_probability(self, images, targets) -> np.ndarray:
        """``p(target | b)``, float32 ``(N,)``: the class's probability on the baseline image
        alone (everything hidden), for images and targets as :meth:`checked_inputs` gives."""
        objective = self.mask_objective(tuple(np.shape(images)[1:]))
        parts = []
        for first in range(0, len(images), self.batch_size):
            chunk = slice(first, first + self.batch_size)
            outputs = self.classify(objective.baseline(tf.constant(images[chunk])))
            parts.append(losses.target_probability(outputs, tf.constant(targets[chunk]),
                                                   from_logits=self._from_logits).numpy())
        return np.concatenate(parts).astype(np.float32)

    def current_masks(self) -> np.ndarray:
        """The masks of the last batch fitted, float32 ``(N, H, W)`` in [0, 1]."""
        if self.mask_params is None:
            raise ValueError("Expected fit() or explain() to have run. Received: no masks yet")
        masks = self.mask_objective().masks(self.mask_params, self._image_size)
        return masks.numpy()[..., 0].astype(np.float32)

    def checked_inputs(self, images, targets=None) -> CheckedInputs:
        """The opening of every entry point: checks the images against the classifier,
        warns when a paper preset sees pixels outside [0, 1], and picks the targets.

        Args:
            images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
            targets: ``None`` (the predicted classes), one int, or one int per image.

        Returns:
            A :class:`CheckedInputs`; with ``classifier_output="auto"`` the first call also
            decides :attr:`from_logits` from the classifier's outputs.
        """
        batch, _ = inputs.as_image_batch(images)
        inputs.check_image_shape(batch, self._classifier, self.preprocess is not None)
        self._warn_on_value_range(batch)
        chosen, probability = self._targets_and_probability(batch, targets)
        return CheckedInputs(batch, chosen, probability)

    def mask_objective(self, probe_shape=None) -> Objective:
        """The objective this explainer minimises (settings, classifier, output kind, seed).

        Args:
            probe_shape: ``(H, W, C)``: when ``classifier_output="auto"`` has not yet seen the
                classifier's outputs, decide logits vs probabilities on one random image of
                this shape (as :func:`~keras_neuromask.export_saved_model` does before
                tracing).

        Raises:
            ValueError: the output kind is still unknown and no ``probe_shape`` was given.
        """
        if self._from_logits is None and probe_shape is not None:
            probe = np.random.default_rng(0).uniform(size=(1, *probe_shape))
            self._targets_and_probability(probe.astype(np.float32), None)
        if self._from_logits is None:
            raise ValueError("Expected the classifier's output kind to be known (call fit, "
                             "explain or checked_inputs first, or give probe_shape). "
                             "Received: classifier_output='auto' before any output")
        return Objective(self.settings, self.classify, self._from_logits,
                         loss_scale_for(self._classifier), self.seed)

    # -------------------------------------------------------------------- internals
    def _warn_on_value_range(self, batch: np.ndarray) -> None:
        """The paper presets were tuned on images in [0, 1]; say so when pixels are not."""
        if self.preset.startswith("paper") and (batch.min() < 0 or batch.max() > 1):
            warnings.warn(
                f"The {self.preset!r} preset reproduces the reference code, whose images are "
                f"in [0, 1]; these range over [{batch.min():.3g}, {batch.max():.3g}]. Scale "
                "them and move the scaling into `preprocess=` to match the paper.",
                UserWarning, stacklevel=4)  # the caller of fit, explain, ...

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
            self._from_logits = not looks_like_probabilities(outputs, self._classifier)
        checked = inputs.as_targets(targets, len(batch), outputs.shape[-1])
        chosen = np.argmax(outputs, axis=-1).astype(np.int64) if checked is None else checked
        probability = losses.target_probability(tf.constant(outputs), tf.constant(chosen),
                                                from_logits=self._from_logits)
        return chosen, probability.numpy().astype(np.float32)

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        return predict_in_chunks(lambda part: self.classify(tf.constant(part)), batch,
                                 self.batch_size).astype(np.float32)

    def _masked_probability(self, batch, targets) -> np.ndarray:
        images = tf.constant(batch)
        outputs = self(images)
        return losses.target_probability(outputs, tf.constant(targets),
                                         from_logits=self._from_logits).numpy()

    def _fit_batch(self, batch, targets, first_index, steps, steps_per_epoch, callbacks,
                   verbose):
        steps = self.settings.checked_steps(steps, batch.shape[1:3])
        per_epoch = epoch_length(steps, steps_per_epoch, self.early_stopping is not None)
        self._prepare(batch.shape, per_epoch)
        count, height, width = batch.shape[:3]
        self.mask_params.assign(self._start(tf.constant(batch), tf.constant(targets),
                                            tf.constant(first_index, tf.int32)))
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
        objective, (count, height, width) = self.mask_objective(), shape[:3]
        needs_baseline = self.settings.start_for(height, width) == "saliency"
        # traced as the export traces it, so both start from the same floats
        self._start = tf.function(lambda images, targets, first: objective.initial_params(
            count, height, width, first, images,
            objective.baseline(images) if needs_baseline else None, targets))
        self.compile(optimizer=MaskOptimizer(self.settings.optimizer,
                                             self.settings.learning_rate),
                     jit_compile=self.jit_compile)
        self.optimizer.build([self.mask_params])
        self._compiled_for = key

    def get_config(self):
        return {
            **super().get_config(), **saving.models_config(self._classifier, self.preprocess),
            "preset": self.preset, **saving.json_options(self._overrides), "seed": self.seed,
            "batch_size": self.batch_size, "jit_compile": self.jit_compile,
            "classifier_output": self.classifier_output,
            "early_stopping": (False if self.early_stopping is None
                               else self.early_stopping.get_config()),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**saving.restored(config))


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


__all__ = ["NeuroMask", "Explanation", "CheckedInputs", "LossTerms"]
