"""Side-by-side evaluation of explanation methods: one table of scores and one picture.

Scores per method (means over the images): pointing game and energy (when ground-truth
object masks are known), readability (connected pieces of the map's top 10%), deletion and
insertion AUC (RISE protocol), mask area, seconds per image. Maps are each method's own,
normalised per image to [0, 1].
"""

from __future__ import annotations

import csv
import json
import os
from typing import NamedTuple

import numpy as np

from keras_neuromask.evaluation import fidelity, metrics
from keras_neuromask.evaluation.compare import MethodResult, get_method


class MethodScores(NamedTuple):
    """One row of the comparison table (means over the images)."""

    method: str
    pointing: float  # NaN without object masks
    energy: float  # NaN without object masks
    pieces: float  # connected pieces of the top 10% of the map; lower is more readable
    deletion: float  # lower is better
    insertion: float  # higher is better
    area: float  # mean of the map
    seconds_per_image: float


class FixedMaps:
    """Maps known in advance, scored like a method's (0 seconds per image).

    With the ground-truth object masks it is the perfect localiser: a reference row that shows
    what pointing and energy of 1 score on deletion and insertion.
    """

    def __init__(self, maps):
        self.maps = metrics.as_maps(maps).astype(np.float32)

    def __call__(self, model, images, targets=None) -> MethodResult:
        if len(images) != len(self.maps) or np.shape(images)[1:3] != self.maps.shape[1:]:
            count, height, width = self.maps.shape
            raise ValueError(f"Expected {count} images of {height}x{width} pixels, as the maps. "
                             f"Received: images of shape {np.shape(images)}")
        return MethodResult(self.maps, 0.0)


def default_methods(neuromask_options=None, presets=("paper-cifar",)) -> dict:
    """NeuroMask (default, then each of ``presets``), every tf-keras-vis method, and RISE."""
    options = dict(neuromask_options or {})
    methods = {"neuromask": get_method("neuromask", **options)}
    for preset in presets:
        shared = {k: v for k, v in options.items() if k not in ("preset", "steps")}
        methods[f"neuromask ({preset})"] = get_method("neuromask", preset=preset, **shared)
    for name in ("saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "layercam",
                 "rise"):
        methods[name] = get_method(name)
    return methods


def evaluate(model, images, methods: dict, *, targets=None, object_masks=None,
             preprocess=None, fidelity_steps: int = 33, progress=print,
             pointing_tolerance: int = 1, top_share: float = 0.1, details=None):
    """Runs every method on the images and scores its maps.

    Args:
        model: the classifier (logits or probabilities).
        images: ``(N, H, W, C)`` as the model (after ``preprocess``) takes them.
        methods: name -> method object of :mod:`keras_neuromask.evaluation.compare` (built with the
            same ``preprocess``).
        targets: classes to explain (None: the predicted ones).
        object_masks: ``(N, H, W)`` ground truth, or None.
        preprocess: applied before the model in the fidelity metrics.
        fidelity_steps: points of the deletion and insertion curves.
        progress: called with a line per method (None: silent).
        pointing_tolerance: pixels of tolerance of the pointing game (on the raw map).
        top_share: the share of each map whose connected pieces are counted.
        details: optional dict, filled with name -> metric -> per-image list.

    Returns:
        ``(rows, maps)``: a list of :class:`MethodScores` and name -> maps ``(N, H, W)``.
    """
    rows, all_maps = [], {}
    for name, method in methods.items():
        result = method(model, images, targets)
        maps = result.maps
        all_maps[name] = maps
        deletion = fidelity.deletion_auc(model, images, maps, targets, steps=fidelity_steps,
                                         preprocess=preprocess).auc
        insertion = fidelity.insertion_auc(model, images, maps, targets,
                                           steps=fidelity_steps, preprocess=preprocess).auc
        nothing = np.full(len(maps), np.nan)
        per_image = {
            "pointing": nothing if object_masks is None else metrics.pointing_game(
                maps, object_masks, tolerance=pointing_tolerance),
            "energy": nothing if object_masks is None else metrics.energy(maps, object_masks),
            "pieces": metrics.connected_pieces(maps, top_share), "deletion": deletion,
            "insertion": insertion, "area": metrics.mask_area(maps)}
        if details is not None:
            details[name] = {key: np.asarray(v, np.float64).tolist()
                             for key, v in per_image.items()}
        rows.append(MethodScores(name, *(float(np.mean(per_image[key])) for key in (
            "pointing", "energy", "pieces", "deletion", "insertion", "area")),
            float(result.seconds_per_image)))
        if progress is not None:
            progress(f"{name}: {rows[-1]}")
    return rows, all_maps


def markdown_table(rows) -> str:
    """The rows as a markdown table (↑ higher is better, ↓ lower is better)."""
    lines = ["| method | pointing ↑ | energy ↑ | pieces ↓ | deletion AUC ↓ | insertion AUC ↑ "
             "| area | seconds / image |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [f"{value:.3f}" if not np.isnan(value) else "–"
                 for value in (row.pointing, row.energy)]
        cells.append(f"{row.pieces:.1f}")
        cells += [f"{value:.3f}" for value in (row.deletion, row.insertion, row.area)]
        lines.append(f"| {row.method} | {' | '.join(cells)} | {row.seconds_per_image:.3f} |")
    return "\n".join(lines)


def display_images(images) -> np.ndarray:
    """uint8 RGB copies of images in [0, 1] or [0, 255], for pictures."""
    images = np.asarray(images, np.float32)
    scale = 255.0 if images.max() <= 1.0 else 1.0
    pixels = np.clip(images * scale, 0, 255).astype(np.uint8)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def write_report(out_dir, rows, maps: dict, images, *, grid_rows: int = 6,
                 titles=None, extra: dict | None = None, stem: str = "comparison") -> dict:
    """Writes ``<stem>.md`` (table), ``<stem>.csv`` (the same rows), ``<stem>.json`` (rows and
    ``extra``) and ``<stem>.png`` (grid)."""
    from keras_neuromask.results.visualize import comparison_grid

    os.makedirs(out_dir, exist_ok=True)
    table_path = os.path.join(out_dir, f"{stem}.md")
    with open(table_path, "w", encoding="utf-8") as file:
        file.write(markdown_table(rows) + "\n")
    csv_path = os.path.join(out_dir, f"{stem}.csv")
    with open(csv_path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(MethodScores._fields)
        writer.writerows(rows)
    json_path = os.path.join(out_dir, f"{stem}.json")
    with open(json_path, "w", encoding="utf-8") as file:
        json.dump({"rows": [row._asdict() for row in rows], **(extra or {})}, file, indent=2)
    shown = slice(0, min(grid_rows, len(images)))
    grid_path = comparison_grid(display_images(images[shown]),
                                {name: m[shown] for name, m in maps.items()},
                                os.path.join(out_dir, f"{stem}.png"),
                                titles=None if titles is None else list(titles)[shown],
                                cell_size=96)
    return {"table": table_path, "csv": csv_path, "json": json_path, "grid": str(grid_path)}


def comparison_methods(methods=None, *, preprocess=None, neuromask_options=None) -> dict:
    """The methods of ``neuromask compare``: name -> method object, all with ``preprocess``.

    ``methods`` is a list of names of :func:`default_methods` (None: all of them).
    """
    options = {k: v for k, v in (neuromask_options or {}).items() if v is not None}
    chosen = default_methods({**options, "preprocess": preprocess}, presets=())
    if preprocess is not None:
        chosen.update({name: get_method(name, preprocess=preprocess) for name in chosen
                       if name != "neuromask"})
    if methods:
        unknown = sorted(set(methods) - set(chosen))
        if unknown:
            raise ValueError(f"Expected methods among {sorted(chosen)}. Received: {unknown}")
        chosen = {name: chosen[name] for name in methods}
    return chosen


def class_probabilities(model, images, targets=None, *, preprocess=None, chunk: int = 16):
    """``(targets, probabilities)``: the classes (given, or predicted) and their softmax
    probability on each image, int64 ``(N,)`` and float ``(N,)``."""
    from keras_neuromask.inputs import as_targets
    from keras_neuromask.predictions import (
        as_probabilities,
        looks_like_probabilities,
        predict_in_chunks,
    )

    images = np.asarray(images, np.float32)
    scores = predict_in_chunks(
        lambda batch: model(preprocess(batch) if preprocess is not None else batch, training=False),
        images, chunk)
    probabilities = as_probabilities(scores, not looks_like_probabilities(scores, model))
    checked = as_targets(targets, len(images), probabilities.shape[-1])
    chosen = np.argmax(probabilities, axis=-1) if checked is None else checked
    return chosen.astype(np.int64), probabilities[np.arange(len(images)), chosen]


def compare_images(model, images, out_dir, *, targets=None, preprocess=None, methods=None,
                   neuromask_options=None, class_names=None) -> dict:
    """The comparison on a user's images: every method, scored; returns the files written.

    Args:
        model, images, targets, preprocess: as :func:`evaluate`.
        out_dir: where :func:`write_report` writes.
        methods: names among :func:`default_methods` (None: all of them).
        neuromask_options: keyword arguments of NeuroMask (None values are dropped).
        class_names: one name per class (e.g. ``class_names.imagenet_class_names()``): the
            grid's rows are titled with each image's class and its probability.
    """
    chosen = comparison_methods(methods, preprocess=preprocess,
                                neuromask_options=neuromask_options)
    titles = None
    if class_names is not None:
        targets, probabilities = class_probabilities(model, images, targets,
                                                     preprocess=preprocess)
        titles = [f"{class_names[t]} {p:.2f}" if t < len(class_names) else f"class {t}"
                  for t, p in zip(targets, probabilities)]
    rows, maps = evaluate(model, images, chosen, targets=targets, preprocess=preprocess,
                          progress=None)
    return write_report(out_dir, rows, maps, images, titles=titles)
