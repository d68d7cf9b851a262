"""Tuning the default preset on the generated localisation benchmark.

Each configuration is the default preset with some keywords changed; every configuration
runs on the same correctly classified test images. Prints a markdown table of pointing,
energy, deletion, insertion, area and seconds per image, then the mean optimisation steps
each configuration took per image (``Explanation.steps``: fewer with ``early_stopping``).

``--methods layercam,gradcam`` scores other methods beside them, ``--seed`` draws another set
of test images, and ``--sanity-images K`` also runs the sanity check (cascading weight
randomisation) of every configuration on the first K images.

Usage: python scripts/tune_default.py [--images 64] [--configs '{"name": {...}, ...}']
       [--methods layercam] [--seed 2024] [--sanity-images 16]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_neuromask.evaluation.compare import NeuroMaskMethod, get_method  # noqa: E402
from keras_neuromask.evaluation.datasets import make_shapes, trained_shapes_cnn  # noqa: E402
from keras_neuromask.evaluation.metrics import spearman_correlation  # noqa: E402
from keras_neuromask.evaluation.report import evaluate, markdown_table  # noqa: E402
from keras_neuromask.evaluation.sanity import sanity_check  # noqa: E402

CONFIGS = {
    "default": {},
    "paper-cifar": {"preset": "paper-cifar", "steps": 300},
    "start m=0.95": {"init_value": 3.0},
    "lr 0.05": {"learning_rate": 0.05},
    "lr 0.2": {"learning_rate": 0.2},
    "sparsity 2": {"sparsity_weight": 2.0},
    "sparsity 0.5": {"sparsity_weight": 0.5},
    "tv 2": {"smoothness_weight": 2.0},
    "tv 0.5": {"smoothness_weight": 0.5},
    "zero baseline": {"baseline": "zero"},
    "grid 16": {"mask_grid": 16},
    "T 0.5": {"temperature": 0.5},
}


class StepsCounted(NeuroMaskMethod):
    """The NeuroMask method, keeping each image's ``Explanation.steps`` in ``steps``."""

    def __init__(self, **options):
        super().__init__(**options)
        self.steps = []

    def explain_batch(self, model, batch, targets):
        from keras_neuromask.explainer import NeuroMask

        explainer, _ = self._cached(model, lambda m: NeuroMask(
            m, preprocess=self.preprocess, **self.options))
        result = explainer.explain(batch, targets)
        self.steps.extend(result.steps.tolist())
        return result.masks


def benchmark_images(count: int, seed: int = 2024):
    """``count`` test images the benchmark CNN classifies correctly, with object masks."""
    model = trained_shapes_cnn()
    data = make_shapes(count * 2, seed=seed)
    correct = model.predict(data.images, verbose=0).argmax(1) == data.labels
    keep = np.flatnonzero(correct)[:count]
    return model, data.images[keep], data.labels[keep], data.object_masks[keep]


def sanity_correlations(method, model, images, labels, objects) -> dict[str, list[float]]:
    """Mean Spearman correlations per randomisation depth (top 1, 2, ... layers): of the maps
    with the unchanged model's maps, and of each depth's maps (the unchanged model's first)
    with the object masks."""
    result = sanity_check(lambda m, x, t: method(m, x, t).maps, model, images, labels)
    truth = objects.astype(np.float32)
    with_object = [spearman_correlation(maps, truth)
                   for maps in (result.original_maps, *result.randomized_maps)]
    return {"with_original": [float(np.nanmean(c)) for c in result.correlation],
            "with_object": [float(np.nanmean(c)) for c in with_object]}


def print_sanity(sanity: dict, key: str, first: str | None = None) -> None:
    """One markdown table: a row per method, a column per depth (``first``: a depth-0 one)."""
    depths = len(next(iter(sanity.values()))["with_original"])
    columns = ([first] if first else []) + [f"top {k + 1}" for k in range(depths)]
    print("| method | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, values in sanity.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values[key]) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--configs", help="JSON: name -> NeuroMask keywords")
    parser.add_argument("--methods", default="",
                        help="comma-separated other methods to score beside (e.g. layercam)")
    parser.add_argument("--seed", type=int, default=2024, help="of the generated test images")
    parser.add_argument("--sanity-images", type=int, default=0,
                        help="also run the sanity check on this many of the images (0: no)")
    args = parser.parse_args()
    configs = json.loads(args.configs) if args.configs else CONFIGS
    model, images, labels, objects = benchmark_images(args.images, seed=args.seed)
    methods = {name: StepsCounted(**options) for name, options in configs.items()}
    others = {name: get_method(name) for name in args.methods.split(",") if name}
    rows, _ = evaluate(model, images, {**methods, **others}, targets=labels,
                       object_masks=objects, progress=None)
    print(markdown_table(rows))
    print("\n| configuration | mean steps per image |\n|---|---:|")
    for name, method in methods.items():
        print(f"| {name} | {np.mean(method.steps):.1f} |")
    if args.sanity_images:
        count = args.sanity_images
        sanity = {name: sanity_correlations(method, model, images[:count], labels[:count],
                                            objects[:count])
                  for name, method in methods.items()}
        print(f"\nsanity check ({count} images): mean Spearman rank correlation of the maps "
              "before and after randomising the top k layers (cascading)")
        print_sanity(sanity, "with_original")


if __name__ == "__main__":
    main()
