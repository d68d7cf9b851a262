"""What the commands show a person: the line per image and the rows of ``index.html``.

:mod:`keras_neuromask.results.index_page` draws the page; this module decides what goes in
it for ``explain``, ``compare`` and the demo.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from keras_neuromask.results.index_page import PageRow, Picture, Table, thumbnail_uri


def class_label(target: int, name: str | None) -> str:
    """"Egyptian cat (285)", or "class 285" without a name."""
    return f"{name} ({int(target)})" if name else f"class {int(target)}"


def overlay_caption(target: int, name: str | None, probability: float) -> str:
    """The caption written on an overlay: "Egyptian cat 0.80" (or "class 285 0.80")."""
    return f"{name or f'class {int(target)}'} {probability:.2f}"


def image_line(record) -> str:
    """One terminal line for an explained image (an ``ImageSummary``)."""
    return (f"{os.path.basename(record.input_path)}: "
            f"{class_label(record.target, record.class_name)}, p {record.original_probability:.3f}"
            f" -> {record.masked_probability:.3f} masked, mask area {record.mask_area:.3f}, "
            f"{record.steps} steps, {record.seconds:.1f} s")


def baseline_line(record) -> str:
    """The line printed when the baseline alone keeps the class (an ``ImageSummary``)."""
    return (f"  note: {os.path.basename(record.input_path)}: the baseline alone keeps the class "
            f"(p {record.baseline_probability:.3f} of {record.original_probability:.3f}): "
            "nothing needs keeping, so read the mask as a ranking of what restores the rest, "
            "or explain with another baseline, e.g. NeuroMask(model, baseline=\"zero\") "
            "(docs/known_answers.md)")


def explain_row(record, photo: np.ndarray, out_dir: str) -> PageRow:
    """The page's row of one explained image: its photo (embedded), its overlay (the file next
    to the page) and its numbers."""
    pictures = [Picture("photo", thumbnail_uri(photo))]
    overlay = record.outputs.get("overlay")
    if overlay:
        name = os.path.relpath(overlay, out_dir)
        pictures.append(Picture("overlay", name.replace(os.sep, "/")))
    return PageRow(os.path.basename(record.input_path), pictures, {
        "class": class_label(record.target, record.class_name),
        "p(class)": record.original_probability, "p(class) masked": record.masked_probability,
        "mask area": record.mask_area, "steps": record.steps, "seconds": record.seconds})


def metrics_table(rows) -> Table:
    """The comparison's metrics (``MethodScores`` rows) as a page table."""
    columns = ["method", "pointing ↑", "energy ↑", "pieces ↓", "deletion AUC ↓",
               "insertion AUC ↑", "area", "seconds / image"]
    return Table("Methods (means over the images)", columns,
                 [[row.method, row.pointing, row.energy, row.pieces, row.deletion,
                   row.insertion, row.area, row.seconds_per_image] for row in rows])


def compare_rows(names: Sequence[str], photos: Sequence[np.ndarray],
                 overlays: Mapping[str, Sequence[np.ndarray]],
                 details: Mapping[str, Mapping[str, Sequence[float]]],
                 targets: Sequence[int], class_names: Sequence[str | None],
                 probabilities: Sequence[float]) -> list[PageRow]:
    """The page's rows of a comparison: each image's photo and every method's overlay
    (embedded), with each method's area, deletion and insertion under its overlay (and in
    "sort by")."""
    rows = []
    for i, name in enumerate(names):
        pictures = [Picture("photo", thumbnail_uri(photos[i]))]
        sort_only = {}
        for method, pictures_of_method in overlays.items():
            scores = {key: float(details[method][key][i])
                      for key in ("area", "deletion", "insertion")}
            pictures.append(Picture(method, thumbnail_uri(pictures_of_method[i]),
                                    f"area {scores['area']:.2f} · del {scores['deletion']:.3f}"
                                    f" · ins {scores['insertion']:.3f}"))
            sort_only.update({f"{method} {key}": value for key, value in scores.items()})
        rows.append(PageRow(name, pictures, {
            "class": class_label(targets[i], class_names[i]),
            "p(class)": float(probabilities[i])}, sort_only))
    return rows


__all__ = ["class_label", "compare_rows", "explain_row", "image_line", "metrics_table",
           "overlay_caption"]
