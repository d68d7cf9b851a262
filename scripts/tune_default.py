"""Tuning the default preset on the generated localisation benchmark.

Each configuration is the default preset with some keywords changed; every configuration
runs on the same correctly classified test images. Prints a markdown table of pointing,
energy, deletion, insertion, area and seconds per image, then the mean optimisation steps
each configuration took per image (``Explanation.steps``: fewer with ``early_stopping``).

Usage: python scripts/tune_default.py [--images 64] [--configs '{"name": {...}, ...}']
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_neuromask.compare import NeuroMaskMethod  # noqa: E402
from keras_neuromask.datasets import make_shapes, trained_shapes_cnn  # noqa: E402
from keras_neuromask.report import evaluate, markdown_table  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--configs", help="JSON: name -> NeuroMask keywords")
    args = parser.parse_args()
    configs = json.loads(args.configs) if args.configs else CONFIGS
    model, images, labels, objects = benchmark_images(args.images)
    methods = {name: StepsCounted(**options) for name, options in configs.items()}
    rows, _ = evaluate(model, images, methods, targets=labels, object_masks=objects,
                       progress=None)
    print(markdown_table(rows))
    print("\n| configuration | mean steps per image |\n|---|---:|")
    for name, method in methods.items():
        print(f"| {name} | {np.mean(method.steps):.1f} |")


if __name__ == "__main__":
    main()
