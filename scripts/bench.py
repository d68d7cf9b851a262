"""Benchmark NeuroMask's speed (and memory) against the classifier and the paper's loop.

Usage:
    python scripts/bench.py                      # the full run (< 10 min on 2 CPU cores)
    python scripts/bench.py --quick              # smoke run, rough numbers
    python scripts/bench.py --models cifar --batches 1,8 --xla off --json bench.json
    python scripts/bench.py --memory --no-speed  # peak memory by batch and image size
    python scripts/bench.py --profile --no-speed # where a step's time goes, beyond the model

Prints markdown tables on stdout (progress on stderr). What is measured: see
``keras_neuromask/bench/speed.py``. Memory is the peak resident set size (``ru_maxrss``) of a fresh
process per (model, image size, batch) that builds the model and explains one batch, and on
a GPU the device's peak (``tf.config.experimental.get_memory_info``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MEMORY_SIZES = {"cifar": (32, 64, 128), "mobilenet": (96, 160, 224)}
MEMORY_STEPS = 3


def _csv(kind):
    def parse(text):
        try:
            return [kind(part) for part in text.split(",") if part]
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
    return parse


def _xla(text):
    values = {"off": False, "on": True}
    if text not in values:
        raise ValueError(f"Expected off or on. Received: {text!r}")
    return values[text]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--models", type=_csv(str), default=["cifar", "mobilenet"])
    parser.add_argument("--batches", type=_csv(int), default=[1, 8, 16])
    parser.add_argument("--xla", type=_csv(_xla), default=[False, True], help="off,on")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of (a) and (b)")
    parser.add_argument("--budget", type=float, default=600.0,
                        help="skip a (model, XLA) configuration projected to take longer (s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--memory", action="store_true", help="measure peak memory too")
    parser.add_argument("--sizes", type=_csv(int), default=None,
                        help="image sizes for --memory (default per model)")
    parser.add_argument("--profile", action="store_true",
                        help="split each step's cost (keras_neuromask/bench/step_profile.py), "
                             "XLA off")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed benchmark")
    parser.add_argument("--memory-child", nargs=3, metavar=("MODEL", "SIZE", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.models) - set(MEMORY_SIZES)
    if unknown:
        parser.error(f"Expected models among {sorted(MEMORY_SIZES)}. Received: {sorted(unknown)}")
    if not args.batches or min(args.batches) < 1:
        parser.error(f"Expected positive batch sizes. Received: {args.batches}")
    return args


def memory_child(model_name: str, size: int, batch: int) -> dict:
    """In a fresh process: peak memory of explaining one batch (``MEMORY_STEPS`` steps)."""
    import resource

    import numpy as np
    import tensorflow as tf

    from keras_neuromask import NeuroMask
    from keras_neuromask.bench.speed import cifar_cnn, mobilenet_v2

    model = cifar_cnn(size) if model_name == "cifar" else mobilenet_v2(size)
    images = np.random.default_rng(0).uniform(0, 1, (batch, size, size, 3)).astype(np.float32)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    NeuroMask(model, batch_size=batch).explain(images, steps=MEMORY_STEPS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {"model": model_name, "size": size, "batch": batch, "rss_before_mib": before,
              "peak_rss_mib": peak, "growth_mib": peak - before}
    if gpu:
        record["gpu_peak_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return record


def measure_memory(models, batches, sizes=None) -> list:
    """Runs :func:`memory_child` in a subprocess per configuration."""
    records = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for model in models:
        for size in sizes or MEMORY_SIZES[model]:
            for batch in batches:
                command = [sys.executable, os.path.abspath(__file__), "--memory-child", model,
                           str(size), str(batch)]
                done = subprocess.run(command, capture_output=True, text=True, env=env,  # noqa: S603
                                      check=False)
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
                if done.returncode or not lines:
                    raise RuntimeError(f"memory child failed: {command}\n{done.stderr[-2000:]}")
                records.append(json.loads(lines[-1]))
                print(f"memory {records[-1]}", file=sys.stderr, flush=True)
    return records


def memory_table(records) -> str:
    gpu = any("gpu_peak_mib" in r for r in records)
    lines = ["| model | image | B | peak RSS, MiB | growth during explain, MiB"
             + (" | GPU peak, MiB |" if gpu else " |"),
             "|---|---:|---:|---:|---:|" + ("---:|" if gpu else "")]
    for r in records:
        lines.append(f"| {r['model']} | {r['size']}x{r['size']} | {r['batch']} "
                     f"| {r['peak_rss_mib']:.0f} | {r['growth_mib']:.0f} |"
                     + (f" {r.get('gpu_peak_mib', float('nan')):.0f} |" if gpu else ""))
    return "\n".join(lines + memory_fits(records))


def memory_fits(records) -> list:
    """Per model, least squares ``growth = fixed + slope * B * H * W`` (in megapixels)."""
    import numpy as np

    lines = []
    for model in dict.fromkeys(r["model"] for r in records):
        rows = [r for r in records if r["model"] == model]
        pixels = np.array([r["batch"] * r["size"] ** 2 / 1e6 for r in rows])
        if len(set(pixels)) < 2:
            continue
        design = np.stack([np.ones_like(pixels), pixels], axis=1)
        (fixed, slope), *_ = np.linalg.lstsq(design, [r["growth_mib"] for r in rows], rcond=None)
        lines.append(f"\n{model}: growth ~ {fixed:.0f} MiB + {slope:.0f} MiB per megapixel of"
                     f" batch (B x H x W)")
    return lines


def profile_table(models, batches, repeats: int) -> str:
    """:func:`keras_neuromask.bench.step_profile.profile` per model and batch, as one table."""
    import numpy as np

    from keras_neuromask.bench import speed as bench
    from keras_neuromask.bench import step_profile

    found = {}
    for name in models:
        spec = bench.MODELS[name]
        model = spec.build()
        images = np.random.default_rng(0).uniform(
            0, 1, (max(batches), spec.size, spec.size, 3)).astype(np.float32)
        for batch in batches:  # 4x (b)'s steps: the split needs finer differences
            found[(name, batch)] = step_profile.profile(
                model, images[:batch], image_steps=4 * spec.image_steps, repeats=repeats)
            print(f"profile {name} B={batch}: {found[(name, batch)]}", file=sys.stderr,
                  flush=True)
    return ("Step profile (s per image per step as ratios to the model's forward+backward;"
            " see keras_neuromask/bench/step_profile.py):\n\n" + step_profile.table(found))


def main(argv=None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.memory_child:
        model, size, batch = args.memory_child
        print(json.dumps(memory_child(model, int(size), int(batch))))
        return 0
    from keras_neuromask.bench import speed as bench

    record = {}
    if not args.no_speed:
        result = bench.run(args.models, args.batches, args.xla, quick=args.quick,
                           repeats=args.repeats, config_budget_s=args.budget,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
        info = result.info
        load = info["load_average"]
        print(f"NeuroMask benchmark, {info['date']}, {info['machine']}, {info['cpus']} CPUs, "
              f"GPUs {info['gpus'] or 'none'}, TF {info['tensorflow']}, Keras {info['keras']}, "
              f"load average {load[0]:.1f} at start, {load[1]:.1f} at end"
              f"{', QUICK (rough numbers)' if args.quick else ''}\n")
        print(f"(a), (b): medians over {info['repeats']} repeats of two step counts "
              f"{info['steps']}; (c): eager step x {info['paper_steps']}; (d): default preset, "
              f"{info['explain_steps']} steps, step compiled beforehand. Other processes on "
              "the cores inflate wall times; the CPU-time ratio is robust to them.\n")
        print(bench.table(result) + "\n\n" + bench.targets_table(result))
        record = bench.as_dict(result)
    if args.profile:
        print("\n" + profile_table(args.models, [b for b in args.batches if b > 1],
                                    args.repeats or 5))
    if args.memory:
        records = measure_memory(args.models, args.batches, args.sizes)
        print("\n" + memory_table(records))
        record["memory"] = records
    wall = time.perf_counter() - start
    print(f"\nwall time of the run: {wall:.0f} s")
    if args.json:
        record["wall_seconds"] = wall
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
