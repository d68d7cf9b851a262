"""One-device ``explain`` against ``explain_distributed`` on logical CPUs: time and masks.

Splits the machine's CPU into ``--devices`` logical devices (before TensorFlow starts), then
explains one batch with ``NeuroMask.explain`` (one device, Keras ``fit``), with
``explain_distributed`` on one logical CPU (the same in-graph loop, one replica) and on all of
them (``MirroredStrategy``), each timed as the median of ``--repeats`` calls after a warm-up
call (tracing excluded), the calls interleaved. Prints a markdown table: wall seconds per
image, the ratio to ``explain``, CPU seconds per image (this process), the largest mask
difference from ``explain``, how many images differ by more than 0.01, and the largest
difference from the same in-graph optimisation on one logical CPU (float rounding depends on
the batch size a device computes, and the optimisation can amplify it for a few images).
Logical CPUs share the same physical cores and thread pools, so no speed-up is expected here;
the table checks the split's overhead and that the masks agree; a machine with several GPUs
is where it pays.

Usage: python scripts/multi_device.py [--batch 16] [--steps 100] [--devices 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices)

    from keras_neuromask import NeuroMask, explain_distributed
    from keras_neuromask.evaluation.datasets import make_shapes, small_cnn

    classifier = small_cnn((32, 32, 3), 4, seed=0)
    images = make_shapes(args.batch, seed=1).images
    explainer = NeuroMask(classifier, steps=args.steps, seed=0, batch_size=args.batch)
    devices = [f"/cpu:{i}" for i in range(args.devices)]
    runs = {"`explain`, 1 device": lambda: explainer.explain(images)}
    for names in (devices[:1], devices):
        strategy = tf.distribute.MirroredStrategy(names)
        runs[f"`explain_distributed`, {len(names)} logical CPU(s)"] = (
            lambda strategy=strategy: explain_distributed(explainer, images, strategy=strategy))
    masks = {name: run().masks for name, run in runs.items()}  # warm-up: traces once
    times = {name: [] for name in runs}
    cpu_times = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, so a change of load hits every run alike
        for name, run in runs.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - start)
            cpu_times[name].append(time.process_time() - cpu_start)
    explain_masks = masks["`explain`, 1 device"]
    one_cpu_masks = masks["`explain_distributed`, 1 logical CPU(s)"]
    base = statistics.median(times["`explain`, 1 device"]) / args.batch
    print(f"batch {args.batch}, {args.steps} steps, 32x32 CNN, median of {args.repeats} "
          f"interleaved calls after a warm-up; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| run | s / image | ratio to `explain` | CPU s / image | max abs mask difference "
          "from `explain` | images differing by > 0.01 | ... from `explain_distributed` on 1 "
          "logical CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in runs:
        seconds = statistics.median(times[name]) / args.batch
        per_image = np.abs(masks[name] - explain_masks).max(axis=(1, 2))
        cpu_seconds = statistics.median(cpu_times[name]) / args.batch
        print(f"| {name} | {seconds:.4f} | {seconds / base:.2f} | {cpu_seconds:.4f} "
              f"| {per_image.max():.1e} "
              f"| {int(np.sum(per_image > 0.01))} / {args.batch} "
              f"| {np.abs(masks[name] - one_cpu_masks).max():.1e} |")


if __name__ == "__main__":
    main()
