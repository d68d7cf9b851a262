"""How the default's masks converge, step by step, on composites, photos and shapes.

For each configuration (``--configs``: a JSON dict of name -> NeuroMask keywords) the masks
are recorded every ``--every`` steps of one ``fit`` per batch, and each checkpoint is scored
against the ground truth (pointing, energy), for readability (pieces of the top 10%) and
against the configuration's own last mask (mean |m_t - m_last|, the "settled" measure).
The quality at step t is what a run of t steps with the same learning rate returns.

Usage: python scripts/convergence.py --set composites --images 12
       [--configs '{"lr 0.2": {}, "lr 0.4": {"learning_rate": 0.4}}'] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from readable_report import DEFAULT_MODEL, load_set, say_missing  # noqa: E402

from keras_neuromask import NeuroMask  # noqa: E402
from keras_neuromask.evaluation import metrics  # noqa: E402


class _Recorder(keras.callbacks.Callback):
    """Keeps the explainer's masks after every epoch."""

    def __init__(self):
        super().__init__()
        self.masks = []

    def on_epoch_end(self, epoch, logs=None):
        self.masks.append(self.model.current_masks())


def checkpoints(model, images, targets, options, steps, every, batch_size):
    """``(steps_taken, masks)``: masks ``(checkpoints, N, H, W)`` every ``every`` steps, and
    the seconds of the whole run per image."""
    explainer = NeuroMask(model, batch_size=batch_size, **options)
    recorded, start = [], time.perf_counter()
    for first in range(0, len(images), batch_size):
        part = slice(first, first + batch_size)
        recorder = _Recorder()
        explainer.fit(images[part], None if targets is None else targets[part], steps=steps,
                      steps_per_epoch=every, callbacks=[recorder], verbose=0)
        recorded.append(np.stack(recorder.masks))
    seconds = (time.perf_counter() - start) / len(images)
    return np.arange(every, steps + 1, every), np.concatenate(recorded, axis=1), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("composites", "photos", "shapes"),
                        default="composites")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--configs", default='{"default": {}}')
    parser.add_argument("--out", default=None, help="a JSON file for the curves")
    args = parser.parse_args()
    loaded = load_set(args)
    if loaded is None:
        return say_missing(args.model)
    model, images, targets, objects, _, tolerance = loaded
    curves = {}
    for name, options in json.loads(args.configs).items():
        steps_at, masks, seconds = checkpoints(model, images, targets, options, args.steps,
                                               args.every, args.batch_size)
        rows = []
        for step, at in zip(steps_at, masks):
            row = {"step": int(step),
                   "settled": float(np.abs(at - masks[-1]).mean()),
                   "pieces": float(metrics.connected_pieces(at).mean()),
                   "area": float(at.mean())}
            if objects is not None:
                row["pointing"] = float(metrics.pointing_game(at, objects, tolerance).mean())
                row["energy"] = float(metrics.energy(at, objects).mean())
            rows.append(row)
        curves[name] = {"options": options, "seconds_per_image": seconds, "rows": rows}
        print(f"## {name} {options} ({seconds:.2f} s / image for {args.steps} steps)")
        print("| step | " + " | ".join(k for k in rows[0] if k != "step") + " |")
        for row in rows:
            print(f"| {row['step']} | " + " | ".join(
                f"{v:.3f}" for k, v in row.items() if k != "step") + " |")
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"command": " ".join(sys.argv), "curves": curves}, file, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
