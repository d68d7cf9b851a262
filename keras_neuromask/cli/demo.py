"""``neuromask demo``: the whole package on the embedded default, offline.

1. loads the small CNN of the generated localisation benchmark, shipped trained in the
   package (:func:`keras_neuromask.evaluation.datasets.shipped_shapes_cnn`): no training;
2. explains a handful of generated test images with the default preset: overlays, masks,
   ``summary.json``;
3. compares NeuroMask with every tf-keras-vis method and RISE on them: grid PNG and table;
4. exports the explainer as a TF Serving SavedModel and answers one REST request from it.

It prints one line per stage (no progress bars), then the comparison table and where the
files are.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def run_demo(out_dir: str, *, images: int = 8, steps: int | None = None) -> int:
    """Runs the demo into ``out_dir``; returns 0."""
    from keras_neuromask import NeuroMask, export_saved_model
    from keras_neuromask.evaluation.datasets import SHAPE_NAMES, make_shapes, trained_shapes_cnn
    from keras_neuromask.evaluation.report import (
        default_methods,
        display_images,
        evaluate,
        write_report,
    )
    from keras_neuromask.results.outputs import ImageSummary, write_summary_json
    from keras_neuromask.results.visualize import save_overlay_png
    from keras_neuromask.serving import rest as serving

    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    print("1/4 the benchmark's small CNN (shipped trained in the package) ...", flush=True)
    model = trained_shapes_cnn(verbose=1 if sys.stdout.isatty() else 2)
    data = make_shapes(images, seed=31337)
    explainer = NeuroMask(model, steps=steps)

    print(f"2/4 explaining {images} generated images ...", flush=True)
    result = explainer.explain(data.images)
    explained = os.path.join(out_dir, "explanations")
    os.makedirs(explained, exist_ok=True)
    records = []
    for i, mask in enumerate(result.masks):
        stem = os.path.join(explained, f"image{i}-{SHAPE_NAMES[result.targets[i]]}")
        save_overlay_png(display_images(data.images[i:i + 1])[0], mask, stem + ".overlay.png")
        np.save(stem + ".mask.npy", mask)
        records.append(ImageSummary(
            input_path=f"make_shapes(seed=31337)[{i}]", target=int(result.targets[i]),
            original_probability=float(result.original_probability[i]),
            masked_probability=float(result.masked_probability[i]),
            mask_area=float(mask.mean()), steps=int(result.steps[i]),
            seconds=result.seconds / images,
            outputs={"overlay": stem + ".overlay.png", "mask_npy": stem + ".mask.npy"}))
    summary = write_summary_json(records, os.path.join(explained, "summary.json"),
                                 run={"model": "shapes_cnn", "preset": "default"})

    print("3/4 NeuroMask against every tf-keras-vis method and RISE ...", flush=True)
    rows, maps = evaluate(model, data.images, default_methods({"steps": steps}),
                          targets=result.targets, object_masks=data.object_masks,
                          progress=None)
    titles = [SHAPE_NAMES[label] for label in data.labels]
    report = write_report(os.path.join(out_dir, "comparison"), rows, maps, data.images,
                          titles=titles)

    print("4/4 exporting for TF Serving and answering one request ...", flush=True)
    import tensorflow as tf

    version = export_saved_model(explainer, os.path.join(out_dir, "served_model"),
                                 overwrite=True, version=1)
    body = serving.predict_request(data.images[:2])
    response = serving.answer_locally(tf.saved_model.load(version).signatures, body)
    answer = serving.parse_predict_response(response)
    with open(os.path.join(out_dir, "served_response.json"), "w", encoding="utf-8") as file:
        json.dump(response, file)
    in_process = explainer.explain(data.images[:2]).masks  # the same request, in process
    difference = float(np.abs(answer.masks - in_process).max())

    from keras_neuromask.evaluation.report import markdown_table

    print("\n" + markdown_table(rows))
    print(f"\nexplanations: {explained} (summary: {summary})")
    print(f"comparison:   {report['grid']}, {report['table']}")
    print(f"served model: {version} (one request answered: targets "
          f"{answer.target.tolist()}, max |mask difference| vs in-process {difference:.1e}; "
          f"response in {os.path.join(out_dir, 'served_response.json')})")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
