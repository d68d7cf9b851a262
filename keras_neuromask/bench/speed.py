"""Speed of NeuroMask against its limit (the classifier's own gradient) and the paper's loop.

Per model, ``jit_compile`` setting and batch size ``B``:

- (a) the classifier's forward + backward (gradient w.r.t. the input) per image, as Keras
  runs a step: a ``tf.while_loop`` around one ``tf.function(jit_compile=...)`` step
  ``x <- x + 1e-6 dCE/dx``; the limit of any mask learner;
- (b) NeuroMask's cost per image per optimisation step (``fit`` on one batch, timed from
  the end of its first epoch to the end of its last);
- (c) the paper's algorithm as an eager per-image loop (TF1 RMSProp, lr 0.03, accumulator
  starting at 1, ``w ~ U(-10, 10)``, ``m = sigmoid(w / T)``, zero baseline,
  ``0.4 CE + 0.35 mean|w + 10| + gamma Laplacian energy``): median step x ``PAPER_STEPS``;
- (d) ``explain`` with the default preset end to end, per image, with its step compiled.

(a) is ``(t(hi) - t(lo)) / ((hi - lo) B)`` for two step counts, so tracing and per-call
costs cancel; (b) is timed over ``hi - lo`` steps inside one ``fit`` call (the set-up of a
call varies by tenths of a second, too much to cancel in a difference of two calls). Each
repeat times (a) then (b) so both see the same load; the ratio (b)/(a) is the median of
the per-repeat ratios, in wall time and in process CPU time (the latter barely moves when
other processes share the cores). A (model, XLA) configuration whose projected time
exceeds ``config_budget_s`` is skipped, with a note (on CPU, XLA's depthwise convolutions
make MobileNetV2 several times slower than without XLA).
"""

from __future__ import annotations

import math
import os
import platform
import time
from typing import Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask import losses, masking, optimizers
from keras_neuromask.explainer import NeuroMask
from keras_neuromask.optimisation import epoch_length
from keras_neuromask.settings import Settings

PAPER_STEPS = 1000  # the ImageNet notebook's steps (the CIFAR demo runs 2000)


def default_steps(size: int) -> int:
    """The default preset's steps for ``size`` x ``size`` images (``steps="auto"``)."""
    return Settings.from_preset("default").checked_steps(size=(size, size))


class ModelSpec(NamedTuple):
    """A model to benchmark and how long to time it."""

    name: str
    build: Callable[[], keras.Model]  # returns a classifier that outputs logits
    size: int  # image height and width
    image_steps: int  # (a), (b): about images x steps timed (see step_counts)
    paper_preset: str  # "paper-cifar" or "paper-imagenet", for (c)
    paper_steps: int  # eager steps timed for (c)
    explain_steps: int  # steps of (d)
    repeats: int = 3  # repeats of (a) and (b)


class Row(NamedTuple):
    """One (model, XLA, batch) line; seconds, NaN where not measured."""

    model: str
    xla: bool
    batch: int
    gradient: float  # (a) s per image per forward+backward
    step: float  # (b) s per image per NeuroMask step
    ratio: float  # (b)/(a), median of per-repeat wall-time ratios
    cpu_ratio: float  # (b)/(a), median of per-repeat process-CPU-time ratios
    explain: float  # (d) s per image (only at the smallest and the largest batch)
    note: str  # why the row was skipped, or ""


class BenchResult(NamedTuple):
    rows: list  # of Row
    paper: dict  # model name -> (c) s per image (PAPER_STEPS eager steps)
    info: dict  # machine, versions, settings, wall time


def cifar_cnn(size: int = 32, classes: int = 10, seed: int = 0) -> keras.Model:
    """A CIFAR-size CNN (conv 32-32-64-64, dense 256; 1.1 M weights at 32x32), logits."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    x = inputs = keras.Input((size, size, 3))
    for filters in (32, 32, 0, 64, 64, 0):
        x = (layers.Conv2D(filters, 3, padding="same", activation="relu")(x) if filters
             else layers.MaxPooling2D()(x))
    x = layers.Dense(256, activation="relu")(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(classes)(x), name="cifar_cnn")


def mobilenet_v2(size: int = 224) -> keras.Model:
    """``keras.applications.MobileNetV2(weights=None)``, random, with logits (no softmax)."""
    return keras.applications.MobileNetV2(input_shape=(size, size, 3), weights=None,
                                          classifier_activation=None)


MODELS = {
    "cifar": ModelSpec("cifar", cifar_cnn, 32, 240, "paper-cifar", 40, default_steps(32),
                       repeats=5),
    "mobilenet": ModelSpec("mobilenet", mobilenet_v2, 224, 16, "paper-imagenet", 15,
                           default_steps(224)),
}
QUICK = {
    "cifar": MODELS["cifar"]._replace(image_steps=32, paper_steps=5, explain_steps=20,
                                      repeats=2),
    "mobilenet": MODELS["mobilenet"]._replace(image_steps=4, paper_steps=3, explain_steps=4,
                                              repeats=2),
}


def step_counts(image_steps: int, batch: int) -> tuple[int, int]:
    """(a)'s and (b)'s step counts ``(lo, 3 lo)``, ``lo = max(2, ceil(image_steps / 2B))``."""
    low = max(2, math.ceil(image_steps / (2 * batch)))
    return low, 3 * low


def timed(fn) -> np.ndarray:
    """``[wall, process CPU]`` seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return np.array([time.perf_counter() - wall, time.process_time() - cpu])


def gradient_loop(model: keras.Model, jit_compile: bool):
    """``f(images, targets, count)`` running ``count`` compiled forward+backward passes."""

    @tf.function(jit_compile=jit_compile)
    def step(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(losses.preservation(model(x, training=False), targets,
                                                     from_logits=True))
        return x + 1e-6 * tape.gradient(loss, x)

    @tf.function
    def loop(images, targets, count):
        body = lambda i, x: (i + 1, step(x, targets))  # noqa: E731
        return tf.reduce_sum(tf.while_loop(lambda i, _: i < count, body, (0, images))[1])

    return loop


def paper_step(model, images, params, slots, step: int, targets, settings: Settings):
    """One eager step of the paper's algorithm; returns ``(params, slots, loss)``.

    ``loss = a CE(f(m x), c) + b mean|w + limit| + g Laplacian energy(w)``, ``m = sigmoid(w/T)``,
    then TF1 RMSProp (:func:`keras_neuromask.optimizers.apply_rule`), as the reference does.
    """
    s = settings
    with tf.GradientTape() as tape:
        tape.watch(params)
        mask = masking.mask_from_params(params, s.temperature)
        outputs = model(masking.blend(images, mask, tf.zeros_like(images)), training=False)
        loss = (s.preservation_weight * losses.preservation(outputs, targets, from_logits=True)
                + s.sparsity_weight * losses.parameter_l1(params, s.param_limit)
                + s.smoothness_weight * losses.smoothness(s.smoothness, params, mask))
    grads = tape.gradient(loss, params)
    params, slots = optimizers.apply_rule("rmsprop", params, grads, slots, step,
                                          s.learning_rate)
    return params, slots, loss


def paper_step_seconds(model: keras.Model, image: np.ndarray, *, preset: str = "paper-imagenet",
                       steps: int = 20, warmup: int = 2, seed: int = 0) -> float:
    """(c) median seconds of one eager step of the paper's algorithm on one image."""
    settings = Settings.from_preset(preset)
    x = tf.constant(image[None], tf.float32)
    targets = tf.argmax(model(x, training=False), axis=-1)
    limit = settings.param_limit
    params = tf.random.stateless_uniform((1, *image.shape[:2], 1), seed=[seed, 0],
                                         minval=-limit, maxval=limit)
    slots = optimizers.initial_slots("rmsprop", params)
    durations = []
    for step in range(1, warmup + steps + 1):
        start = time.perf_counter()
        params, slots, loss = paper_step(model, x, params, slots, step, targets, settings)
        float(loss[0])  # the reference fetches the loss every step (and this syncs)
        durations.append(time.perf_counter() - start)
    return float(np.median(durations[warmup:]))


def explain_seconds(model: keras.Model, images: np.ndarray, *, jit_compile: bool,
                    steps: int) -> float:
    """(d) seconds per image of ``explain`` (default preset), its step compiled beforehand."""
    explainer = NeuroMask(model, jit_compile=jit_compile, batch_size=len(images))
    explainer.explain(images, steps=epoch_length(steps, None))  # compiles the same step
    start = time.perf_counter()
    result = explainer.explain(images, steps=steps)
    seconds = time.perf_counter() - start
    if not np.all(result.steps == steps):
        raise RuntimeError(f"Expected {steps} steps. Received: {result.steps}")
    return seconds / len(images)


class _EpochClock(keras.callbacks.Callback):
    """Wall and process CPU time at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(np.array([time.perf_counter(), time.process_time()]))


def fit_step_seconds(explainer: NeuroMask, images: np.ndarray, targets, per_epoch: int,
                     epochs: int) -> np.ndarray:
    """``[wall, CPU]`` seconds per image per step of ``fit``, inside one call: from the end
    of its first epoch (which pays the call's set-up) to the end of its last, so the per-call
    work (checks, the targets' forward pass, the dataset) stays out and the per-epoch work
    (callbacks, logs) stays in, as in ``explain``."""
    clock = _EpochClock()
    explainer.fit(images, targets, steps=per_epoch * epochs, steps_per_epoch=per_epoch,
                  callbacks=[clock], verbose=0)
    return (clock.ends[-1] - clock.ends[0]) / ((epochs - 1) * per_epoch * len(images))


def step_costs(model: keras.Model, images: np.ndarray, *, jit_compile: bool,
               image_steps: int, repeats: int) -> tuple[float, float, float, float]:
    """(a), (b), (b)/(a) in wall time and (b)/(a) in CPU time (medians over repeats).

    (a) is the difference of two step counts ``lo, hi``; (b) times ``fit`` over ``hi - lo``
    steps inside one call (:func:`fit_step_seconds`, epochs of ``lo`` steps)."""
    batch = len(images)
    lo, hi = step_counts(image_steps, batch)
    x = tf.constant(images)
    targets = tf.argmax(model(x, training=False), axis=-1)
    loop = gradient_loop(model, jit_compile)
    explainer = NeuroMask(model, jit_compile=jit_compile, batch_size=batch)

    def gradient(count):
        return loop(x, targets, tf.constant(count)).numpy()

    def fit():
        return fit_step_seconds(explainer, images, targets.numpy(), lo, hi // lo)

    gradient(lo), fit()  # traces
    a, b = [], []
    for _ in range(repeats):
        a.append((timed(lambda: gradient(hi)) - timed(lambda: gradient(lo))) / (hi - lo))
        b.append(fit())
    a, b = np.array(a) / batch, np.array(b)
    ratios = np.median(b / a, axis=0)
    return (float(np.median(a[:, 0])), float(np.median(b[:, 0])), float(ratios[0]),
            float(ratios[1]))


def _probe_seconds(model, images, jit_compile) -> float:
    """Seconds per image of one compiled forward+backward (after tracing), for projections."""
    x = tf.constant(images)
    loop = gradient_loop(model, jit_compile)
    targets = tf.argmax(model(x, training=False), axis=-1)
    loop(x, targets, tf.constant(1)).numpy()
    return float(timed(lambda: loop(x, targets, tf.constant(1)).numpy())[0]) / len(images)


def _projected_seconds(spec: ModelSpec, batches: list, repeats: int, probes: dict) -> float:
    """Seconds that (a), (b) and (d) should take, from probed seconds per image by batch."""

    def per_image(batch):  # the probe of the nearest batch size (in log scale)
        return probes[min(probes, key=lambda b: abs(math.log(b / batch)))]

    total = sum(b * per_image(b) * (8 * repeats + 2) * step_counts(spec.image_steps, b)[0]
                for b in batches)
    steps = spec.explain_steps + epoch_length(spec.explain_steps, None)
    return total + sum(b * per_image(b) * steps for b in {batches[0], batches[-1]})


def run(models=("cifar", "mobilenet"), batches=(1, 8, 16), xla=(False, True), *,
        quick: bool = False, repeats: int | None = None, specs: dict | None = None,
        config_budget_s: float = 600.0, log: Callable[[str], None] = lambda _: None,
        seed: int = 0) -> BenchResult:
    """Runs the benchmark (see the module docstring).

    Args:
        models: names in ``specs``.
        batches: batch sizes; (d) runs at the smallest and the largest.
        xla: ``jit_compile`` settings to run.
        quick: fewer steps and repeats, for a smoke run (rough numbers).
        repeats: repeats of (a) and (b) (default: each spec's).
        specs: name -> :class:`ModelSpec`; default :data:`QUICK` or :data:`MODELS`.
        config_budget_s: a (model, XLA) configuration projected to take longer is skipped.
        log: receives progress lines.
        seed: seeds the random images.
    """
    start, load = time.perf_counter(), os.getloadavg()
    specs = specs or (QUICK if quick else MODELS)
    batches = sorted({int(b) for b in batches})
    if not batches or batches[0] < 1 or not set(models) <= set(specs):
        raise ValueError(f"Expected models among {sorted(specs)} and batch sizes >= 1. "
                         f"Received: models={list(models)}, batches={batches}")
    rng = np.random.default_rng(seed)
    rows, paper = [], {}
    for name in models:
        spec = specs[name]
        spec_repeats = repeats or spec.repeats
        model = spec.build()
        images = rng.uniform(0, 1, (batches[-1], spec.size, spec.size, 3)).astype(np.float32)
        per_step = paper_step_seconds(model, images[0], preset=spec.paper_preset,
                                      steps=spec.paper_steps)
        paper[name] = per_step * PAPER_STEPS
        log(f"{name}: (c) paper eager step {per_step * 1e3:.1f} ms")
        for jit in xla:
            probes = {batches[0]: _probe_seconds(model, images[:batches[0]], jit)}
            projected = _projected_seconds(spec, batches, spec_repeats, probes)
            if config_budget_s < projected < 4 * config_budget_s and len(batches) > 1:
                probes[batches[-1]] = _probe_seconds(model, images, jit)  # batching helps
                projected = _projected_seconds(spec, batches, spec_repeats, probes)
            log(f"{name} XLA {jit}: probes {probes} s/image, projected {projected:.0f} s")
            for batch in batches:
                if projected > config_budget_s:
                    note = (f"skipped: projected {projected:.0f} s > budget {config_budget_s:.0f}"
                            " s (one forward+backward: " + ", ".join(
                                f"{t * 1e3:.0f} ms/image at B={b}" for b, t in probes.items())
                            + ")")
                    rows.append(Row(name, jit, batch, *[math.nan] * 5, note))
                    continue
                costs = step_costs(model, images[:batch], jit_compile=jit,
                                   image_steps=spec.image_steps, repeats=spec_repeats)
                explain = math.nan
                if batch in (batches[0], batches[-1]):
                    explain = explain_seconds(model, images[:batch], jit_compile=jit,
                                              steps=spec.explain_steps)
                rows.append(Row(name, jit, batch, *costs, explain, ""))
                log(f"{rows[-1]}")
        del model
        keras.backend.clear_session()
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "load_average": [load[0], os.getloadavg()[0]], "quick": quick,
        "repeats": {n: repeats or specs[n].repeats for n in models},
        "paper_steps": PAPER_STEPS,
        "steps": {n: {b: step_counts(specs[n].image_steps, b) for b in batches} for n in models},
        "explain_steps": {n: specs[n].explain_steps for n in models},
        "wall_seconds": time.perf_counter() - start,
    }
    return BenchResult(rows, paper, info)


def _cell(value: float, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if not math.isfinite(value) else f"{value * scale:.{digits}f}"


def table(result: BenchResult) -> str:
    """Measurements and ratios as a markdown table (then the notes of skipped rows)."""
    lines = ["| model | XLA | B | (a) model fwd+bwd, ms/image | (b) NeuroMask step, ms/image"
             " | (b)/(a) | (b)/(a), CPU time | (d) explain, s/image | (c) paper, s/image"
             " | (c)/(d) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result.rows:
        paper = result.paper[r.model]
        lines.append(f"| {r.model} | {'on' if r.xla else 'off'} | {r.batch} "
                     f"| {_cell(r.gradient, 1e3)} | {_cell(r.step, 1e3)} | {_cell(r.ratio)} "
                     f"| {_cell(r.cpu_ratio)} | {_cell(r.explain, 1, 3)} | {_cell(paper, 1, 1)} "
                     f"| {_cell(paper / r.explain, 1, 0)} |")
    notes = {f"{r.model}, XLA {'on' if r.xla else 'off'}: {r.note}" for r in result.rows
             if r.note}
    return "\n".join(lines + [f"\n{note}" for note in sorted(notes)])


class Target(NamedTuple):
    name: str
    value: float
    goal: str  # "<= 1.10", ">= 20", ...; "-" for context without a goal
    met: bool | None  # None: not measured, or no goal


def targets(result: BenchResult) -> list:
    """Issue 7's targets: (b)/(a) <= 1.10 at B >= 8, (c)/(d) >= 20, MobileNetV2's
    (d) at the largest batch <= 0.5 x (d) at the smallest."""

    def target(name, value, goal, ok):
        return Target(name, value, goal, bool(ok) if math.isfinite(value) else None)

    found, configs = [], {}
    for r in result.rows:
        configs.setdefault((r.model, r.xla), []).append(r)
    for (model, xla), rows in configs.items():
        where = f"{model}, XLA {'on' if xla else 'off'}"
        for r in rows:
            if r.batch >= 8:
                found.append(target(f"(b)/(a), {where}, B={r.batch}", r.ratio, "<= 1.10",
                                    r.ratio <= 1.10))
        ends = rows[:1] + rows[1:][-1:]
        for r in ends:
            value = result.paper[model] / r.explain
            found.append(target(f"(c)/(d), {where}, B={r.batch}", value, ">= 20", value >= 20))
        if len(ends) == 2 and model == "mobilenet":
            value = ends[1].explain / ends[0].explain
            found.append(target(f"(d) per image B={ends[1].batch} / B={ends[0].batch}, {where}",
                                value, "<= 0.5", value <= 0.5))
            value = ends[1].gradient / ends[0].gradient  # the bound on the line above
            found.append(Target(f"(a) per image B={ends[1].batch} / B={ends[0].batch} (the"
                                f" model's own batching gain), {where}", value, "-", None))
    return found


def targets_table(result: BenchResult) -> str:
    """:func:`targets` as a markdown table."""
    lines = ["| ratio | value | goal | met |", "|---|---:|---|---|"]
    for t in targets(result):
        met = "-" if t.met is None else ("yes" if t.met else "NO")
        lines.append(f"| {t.name} | {_cell(t.value)} | {t.goal} | {met} |")
    return "\n".join(lines)


def as_dict(result: BenchResult) -> dict:
    """A JSON-ready record of the run (seconds; NaN as None)."""

    def clean(record: dict) -> dict:
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in record.items()}

    return {"info": result.info, "paper_seconds_per_image": result.paper,
            "rows": [clean(r._asdict()) for r in result.rows],
            "targets": [clean(t._asdict()) for t in targets(result)]}
