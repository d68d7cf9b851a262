"""Where the time of one NeuroMask step goes, beyond the classifier's own forward+backward.

Loops on the same batch, timed as ``(t(hi) - t(lo)) / ((hi - lo) B)`` (tracing and per-call
costs cancel), interleaved in every repeat so that they see the same load:

- ``model``: the classifier's forward + backward w.r.t. the input (the bench's (a));
- ``in_graph``: the exporter's ``tf.while_loop`` optimisation with this classifier (the mask
  maths, the loss and the optimiser, no Keras);
- ``fit``: :meth:`NeuroMask.fit`, timed over ``hi - lo`` steps inside one call, epochs of
  ``lo`` steps (the bench's (b), :func:`keras_neuromask.bench.speed.fit_step_seconds`);
- ``stand_in_model``, ``stand_in_in_graph``: the first two with a stand-in classifier (global
  average pooling + dense, same input and classes) that costs almost nothing.

The step's cost over the model's then splits as::

    fit - model = maths + keras + rest
    maths = stand_in_in_graph - stand_in_model   (mask maths, losses, optimiser)
    keras = fit - in_graph                        (state in variables, epochs, callbacks)
    rest  = in_graph - model - maths              (how the two interact: caches, threads)
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_neuromask.bench.speed import fit_step_seconds, gradient_loop, step_counts, timed
from keras_neuromask.explainer import NeuroMask
from keras_neuromask.serving.export import make_explain_function

LOOPS = ("model", "in_graph", "fit", "stand_in_model", "stand_in_in_graph")


class StepProfile(NamedTuple):
    """Seconds per image per step (medians over repeats), wall and process CPU time."""

    batch: int
    wall: dict  # loop name -> seconds
    cpu: dict  # loop name -> seconds

    def shares(self, clock: str = "wall") -> dict:
        """The split of ``fit - model`` (see the module docstring), as ratios to ``model``."""
        t = self.wall if clock == "wall" else self.cpu
        maths = t["stand_in_in_graph"] - t["stand_in_model"]
        return {"fit / model": t["fit"] / t["model"],
                "in-graph loop / model": t["in_graph"] / t["model"],
                "mask maths + optimiser": maths / t["model"],
                "Keras fit": (t["fit"] - t["in_graph"]) / t["model"],
                "rest": (t["in_graph"] - t["model"] - maths) / t["model"]}


def stand_in(model: keras.Model) -> keras.Model:
    """A classifier of ``model``'s input shape and classes that costs almost nothing."""
    return keras.Sequential([keras.Input(model.input_shape[1:]),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(model.output_shape[-1])], name="stand_in")


def _loops(model: keras.Model, images: np.ndarray, counts, jit_compile: bool) -> tuple:
    """``(loops, explainer, targets)``: loops maps "model" and "in_graph" to {count: ``f()``}
    (the model's gradient and the in-graph loop, traced here); the explainer and the predicted
    targets are the ones those loops use."""
    x = tf.constant(images)
    targets = tf.argmax(model(x, training=False), axis=-1)
    gradient = gradient_loop(model, jit_compile)
    explainer = NeuroMask(model, jit_compile=jit_compile, batch_size=len(images))
    loops = {"model": {}, "in_graph": {}}
    for n in counts:
        in_graph = tf.function(make_explain_function(explainer, images.shape[1:], steps=n),
                               jit_compile=jit_compile)
        loops["model"][n] = lambda n=n: gradient(x, targets, tf.constant(n)).numpy()
        loops["in_graph"][n] = lambda f=in_graph: f(x, targets)["masks"].numpy()
        for run in (loops["model"][n], loops["in_graph"][n]):
            run()
    return loops, explainer, targets.numpy()


def profile(model: keras.Model, images: np.ndarray, *, image_steps: int = 240,
            repeats: int = 3, jit_compile: bool = False) -> StepProfile:
    """Times the loops of the module docstring on ``images`` (one batch)."""
    batch = len(images)
    lo, hi = step_counts(image_steps, batch)
    loops, explainer, targets = _loops(model, images, (lo, hi), jit_compile)
    cheap, _, _ = _loops(stand_in(model), images, (lo, hi), jit_compile)
    loops.update({"stand_in_model": cheap["model"], "stand_in_in_graph": cheap["in_graph"]})

    def fit():
        return fit_step_seconds(explainer, images, targets, lo, hi // lo)

    fit()  # traces
    samples = {name: [] for name in LOOPS}
    for _ in range(repeats):
        for name in LOOPS:
            if name == "fit":
                samples[name].append(fit())
                continue
            run = loops[name]
            samples[name].append((timed(run[hi]) - timed(run[lo])) / ((hi - lo) * batch))
    medians = {name: np.median(np.array(values), axis=0) for name, values in samples.items()}
    return StepProfile(batch, {n: float(m[0]) for n, m in medians.items()},
                       {n: float(m[1]) for n, m in medians.items()})


def table(profiles: dict) -> str:
    """``{(model name, batch): StepProfile}`` as a markdown table (ratios to the model's cost)."""
    lines = ["| model | B | clock | model fwd+bwd, ms/img | fit / model | in-graph loop / model"
             " | mask maths + optimiser | Keras fit | rest |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for (name, batch), found in profiles.items():
        for clock in ("wall", "cpu"):
            values = list(found.shares(clock).values())
            model_ms = (found.wall if clock == "wall" else found.cpu)["model"] * 1e3
            lines.append(f"| {name} | {batch} | {clock} | {model_ms:.2f} | {values[0]:.2f} | "
                         f"{values[1]:.2f} | " + " | ".join(f"{v:+.2f}" for v in values[2:])
                         + " |")
    return "\n".join(lines)
