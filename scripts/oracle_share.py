"""Share of mask mass on the oracle's patch, and seconds per image, for each preset.

The oracle (tests/conftest.py) decides from the texture of one known 8x8 patch of a 32x32
image, so a correct mask puts its mass there. Usage: python scripts/oracle_share.py [--images 16]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from conftest import oracle_classifier, oracle_images, oracle_object  # noqa: E402

from keras_neuromask import NeuroMask  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args()
    model, images, patch = oracle_classifier(), oracle_images(args.images), oracle_object()
    print("| preset | steps | mean share on the patch | lowest share | seconds / image |")
    print("|---|---:|---:|---:|---:|")
    for preset in ("default", "paper-cifar", "paper-imagenet"):
        explainer = NeuroMask(model, preset=preset)
        explainer.explain(images[:explainer.batch_size], steps=2)  # trace once, untimed
        result = explainer.explain(images)
        shares = (result.masks * patch).sum((1, 2)) / result.masks.sum((1, 2))
        print(f"| {preset} | {explainer.settings.steps} | {shares.mean():.3f} "
              f"| {shares.min():.3f} | {result.seconds / len(images):.3f} |")


if __name__ == "__main__":
    main()
