"""What a new batch shape costs the default explainer: the first ``explain`` call of a fresh
``NeuroMask`` (tracing the start and the step, Keras' ``fit`` set-up) against the same call
again (warm), and the same two calls with 2 steps (so almost only the fixed costs are left).

Before ``optimisation.even_batches``, ``explain`` of 24 images at ``batch_size=16`` ran 16 + 8
and paid the first-call cost twice; it now runs 12 + 12 and pays it once.

Usage: python scripts/trace_cost.py --set composites --batch 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # this checkout's package

from readable_report import DEFAULT_MODEL, load_set, say_missing  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("shapes", "composites"), default="composites")
    parser.add_argument("--batch", type=int, default=8, help="images per call")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="composites' classifier")
    args = parser.parse_args()
    loaded = load_set(SimpleNamespace(set=args.set, images=args.batch, seed=0,
                                      model=args.model))
    if loaded is None:
        return say_missing(args.model)
    from keras_neuromask import NeuroMask

    model, images, targets = loaded[:3]
    print("| steps | first call (s) | warm call (s) | first - warm (s) |\n|---|---:|---:|---:|")
    for steps in (None, 2):
        explainer = NeuroMask(model, batch_size=args.batch,
                              **({} if steps is None else {"steps": steps}))
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            result = explainer.explain(images, targets)
            seconds.append(time.perf_counter() - start)
        print(f"| {int(result.steps[0])} | {seconds[0]:.1f} | {seconds[1]:.1f} | "
              f"{seconds[0] - seconds[1]:.1f} |", flush=True)
    print(f"{args.set}: {len(images)} images in one batch; python scripts/trace_cost.py "
          + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
