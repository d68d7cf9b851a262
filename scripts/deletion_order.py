"""How much of a map's deletion AUC on the benchmark is the order of the pixels around it.

The deletion metric (RISE protocol, zero fill) deletes pixels most important first. A map
that covers exactly the object leaves a black silhouette of it, which still shows the shape
the benchmark's classes are decided by. This script scores each map as it is and with a faint
halo added, ``map + a * G_sigma(map)`` (``G_sigma``: Gaussian blur of ``sigma`` pixels,
``a`` small), which moves the pixels next to the map's bright region up the order, just
after the region itself: the map's maximum is kept (pointing unchanged) and at most a share
``a`` of the mass moves (energy nearly unchanged). Rows: the ground-truth object masks,
NeuroMask's default, Grad-CAM and LayerCAM, on the benchmark's test images.

Usage: python scripts/deletion_order.py [--images 200] [--sigma 4] [--weight 0.01]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tune_default import benchmark_images  # noqa: E402

from keras_neuromask.evaluation.compare import get_method  # noqa: E402
from keras_neuromask.evaluation.fidelity import gaussian_blur  # noqa: E402
from keras_neuromask.evaluation.report import FixedMaps, evaluate, markdown_table  # noqa: E402
from keras_neuromask.evaluation.vis_methods import normalize_maps  # noqa: E402


def with_halo(maps, sigma: float, weight: float):
    """``maps + weight * G_sigma(maps)`` for ``(N, H, W)`` maps (blur radius 3 sigma),
    min-max normalised per image again."""
    blurred = gaussian_blur(maps[..., None], sigma=sigma, radius=max(1, round(3 * sigma)))
    return normalize_maps(maps + weight * blurred[..., 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--sigma", type=float, default=4.0, help="of the halo, in pixels")
    parser.add_argument("--weight", type=float, default=0.01, help="a: the halo's weight")
    args = parser.parse_args()
    model, images, labels, objects = benchmark_images(args.images)
    maps = {"object mask (ground truth)": objects.astype("float32")}
    for name in ("neuromask", "gradcam", "layercam"):
        maps[name] = get_method(name)(model, images, labels).maps
    methods = {}
    for name, values in maps.items():
        methods[name] = FixedMaps(values)
        methods[f"{name} + halo"] = FixedMaps(with_halo(values, args.sigma, args.weight))
    rows, _ = evaluate(model, images, methods, targets=labels, object_masks=objects,
                       progress=None)
    print(f"halo: sigma {args.sigma:g} px, weight {args.weight:g}; {len(images)} images")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
