"""enable_repeatable_masks: TensorFlow's ops one at a time, set before TensorFlow starts (each
case in a fresh interpreter, since thread pools are fixed once TensorFlow runs an op)."""

import os
import subprocess
import sys
import textwrap


def run_fresh(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, env=env)


def test_it_runs_one_op_at_a_time_and_masks_repeat_bit_for_bit():
    done = run_fresh("""
        import numpy as np
        import keras_neuromask
        keras_neuromask.enable_repeatable_masks()
        keras_neuromask.enable_repeatable_masks()  # a second call changes nothing
        import keras, tensorflow as tf
        print("inter-op", tf.config.threading.get_inter_op_parallelism_threads())
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
        images = np.random.default_rng(0).uniform(size=(4, 16, 16, 3)).astype("float32")
        explainer = keras_neuromask.NeuroMask(model, steps=20)
        first, second = (explainer.explain(images).masks for _ in range(2))
        print("difference", float(np.abs(first - second).max()))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "inter-op 1" in done.stdout
    assert "difference 0.0" in done.stdout


def test_a_call_after_tensorflow_started_names_the_problem():
    done = run_fresh("""
        import tensorflow as tf
        tf.constant(1.0) + 1.0
        from keras_neuromask import enable_repeatable_masks
        enable_repeatable_masks()
    """)
    assert done.returncode != 0
    assert "RuntimeError: Expected enable_repeatable_masks() to be called before" in done.stderr


def test_the_command_line_runs_one_op_at_a_time():
    done = run_fresh("""
        from keras_neuromask.cli.main import main
        code = main(["explain", "no-such-image.png", "--model", "no-such-model.keras"])
        import tensorflow as tf
        print("exit", code, "inter-op", tf.config.threading.get_inter_op_parallelism_threads())
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "inter-op 1" in done.stdout
    assert "exit 0" not in done.stdout  # the missing files were reported
