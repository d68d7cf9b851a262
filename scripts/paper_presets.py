"""Why the paper presets score pointing 0 on the demo's shapes: evidence, not a guess.

On the demo's 8 images (``make_shapes(8, seed=31337)``, the shipped CNN) and on the known-answer
one-patch model, for each paper preset: pointing (raw map) and energy; how many pixels tie at
the map's maximum; the rank correlation (Spearman) of the final mask with the preset's own
random start (``w ~ U(-10, 10)``); the share of the final mask that is still saturated
(``m > 0.99`` or ``m < 0.01``) where it started saturated; the percentile, within its own
start, of the start's value at the final mask's maximum (100: the final maximum is where the
random start was highest); the class's probability kept.

Usage: python scripts/paper_presets.py [--steps N]   (default: each preset's own steps)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_neuromask import NeuroMask  # noqa: E402
from keras_neuromask.evaluation import known_answers as ka  # noqa: E402
from keras_neuromask.evaluation import metrics  # noqa: E402
from keras_neuromask.evaluation.datasets import make_shapes, shipped_shapes_cnn  # noqa: E402
from keras_neuromask.masking import mask_at_size  # noqa: E402


def study(name, model, images, targets, truth, steps):
    for preset in ("paper-cifar", "paper-imagenet", "default"):
        explainer = NeuroMask(model, preset=preset)
        result = explainer.explain(images, targets, steps=steps)
        settings, objective = explainer.settings, explainer.mask_objective()
        start = mask_at_size(objective.initial_params(len(images), *images.shape[1:3]),
                             images.shape[1:3], settings.temperature,
                             settings.upsampling).numpy()[..., 0]
        masks = result.masks
        ties = (masks >= masks.max(axis=(1, 2), keepdims=True) - 1e-6).sum(axis=(1, 2))
        rank = metrics.spearman_correlation(masks, start)
        saturated_start = (start > 0.99) | (start < 0.01)
        still = ((masks > 0.99) | (masks < 0.01)) & saturated_start
        flat_masks, flat_start = masks.reshape(len(masks), -1), start.reshape(len(start), -1)
        at_max = flat_start[np.arange(len(masks)), flat_masks.argmax(axis=1)]
        percentile = (flat_start < at_max[:, None]).mean(axis=1) * 100
        print(f"| {name} | {preset} | {int(result.steps[0])} "
              f"| {metrics.pointing_game(masks, truth).mean():.3f} "
              f"| {metrics.energy(masks, truth).mean():.3f} | {np.median(ties):.0f} "
              f"| {np.nan_to_num(np.mean(rank)):.2f} "
              f"| {still.sum() / max(1, saturated_start.sum()):.2f} "
              f"| {np.median(percentile):.1f} "
              f"| {result.original_probability.mean():.2f} → "
              f"{result.masked_probability.mean():.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    print("| images | preset | steps | pointing | energy | pixels tied at the max "
          "| Spearman(final, start) | start's saturated pixels still saturated "
          "| start's percentile at the final max (median) | p(class): image → masked |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    data = make_shapes(8, seed=31337)
    study("demo shapes (8)", shipped_shapes_cnn(), data.images, None, data.object_masks,
          args.steps)
    patch = ka.known_answer_images("one_patch", 8, 32)
    study("one patch, 32 px (8)", ka.known_answer_model("one_patch", 32), patch.images,
          patch.targets, patch.truth, args.steps)


if __name__ == "__main__":
    main()
