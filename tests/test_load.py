"""The exported SavedModel under concurrent load: same answers, bounded memory.

Many threads call the loaded ``serving_default`` signature at once (as TF Serving's request
threads do); every answer must equal the one the same request got alone, and resident memory
(``VmRSS`` of ``/proc/self/status``) after a warm-up may not grow by 10 % or more.
"""

import gc
import os
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn

from keras_neuromask import NeuroMask, export_saved_model

SIZE, STEPS, DISTINCT = 16, 20, 10
OUTPUTS = ("masks", "target", "original_probability", "masked_probability")


def resident_kib() -> int:
    """This process's resident set size in KiB (Linux ``/proc/self/status``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The loaded signature, the distinct requests and each one's answer when alone."""
    explainer = NeuroMask(small_cnn(SIZE, 3, 4), steps=STEPS, mask_grid=8)
    path = export_saved_model(explainer, str(tmp_path_factory.mktemp("load") / "neuromask"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    rng = np.random.default_rng(0)
    requests = [tf.constant(rng.uniform(size=(1 + i % 2, SIZE, SIZE, 3)).astype(np.float32))
                for i in range(DISTINCT)]
    alone = [{k: v.numpy() for k, v in serve(images=r).items()} for r in requests]
    for answer in alone:
        assert np.isfinite(answer["masks"]).all()
    return serve, requests, alone


def hammer(serve, requests, threads: int, per_thread: int, bad_every: int = 0):
    """``threads`` threads each send ``per_thread`` requests, started together.

    Thread ``t`` sends request ``(t + j) % len(requests)`` as its ``j``-th; with
    ``bad_every`` > 0 every ``bad_every``-th is replaced by a malformed one (wrong size or
    dtype). Returns ``(answers, bad_errors, unexpected)``: ``answers[(t, j)]`` for the good
    requests, the errors of the bad ones, and any other exception.
    """
    answers, bad_errors, unexpected = {}, [], []
    lock, start = threading.Lock(), threading.Barrier(threads)
    malformed = [tf.zeros((1, SIZE + 1, SIZE + 1, 3)), tf.zeros((1, SIZE, SIZE, 3), tf.int32)]

    def worker(t):
        start.wait()
        for j in range(per_thread):
            bad = bad_every and (t * per_thread + j) % bad_every == bad_every - 1
            try:
                if bad:
                    serve(images=malformed[j % 2])
                    with lock:
                        unexpected.append(AssertionError(f"malformed request {t, j} answered"))
                    continue
                out = serve(images=requests[(t + j) % len(requests)])
                with lock:
                    answers[(t, j)] = {k: v.numpy() for k, v in out.items()}
            except tf.errors.InvalidArgumentError as error:
                with lock:
                    (bad_errors if bad else unexpected).append(error)
            except Exception as error:  # reported by the test, never swallowed
                with lock:
                    unexpected.append(error)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in pool), "a request hung"
    return answers, bad_errors, unexpected


def assert_same_as_alone(answers, requests, alone):
    for (t, j), answer in answers.items():
        expected = alone[(t + j) % len(requests)]
        for name in OUTPUTS:
            np.testing.assert_array_equal(answer[name], expected[name], err_msg=f"{t, j} {name}")


def check_load(served, threads: int, per_thread: int, record=None):
    serve, requests, alone = served
    hammer(serve, requests, threads, 2)  # warm-up: per-thread state, allocator pools
    gc.collect()
    before = resident_kib()
    start = time.perf_counter()
    answers, _, unexpected = hammer(serve, requests, threads, per_thread)
    seconds = time.perf_counter() - start
    gc.collect()
    after = resident_kib()
    assert not unexpected, unexpected[:3]
    assert len(answers) == threads * per_thread
    assert_same_as_alone(answers, requests, alone)
    summary = (f"{threads}x{per_thread} requests: {seconds:.1f} s, RSS {before / 1024:.0f} -> "
               f"{after / 1024:.0f} MiB ({100 * (after - before) / before:+.1f} %)")
    print(summary)  # shown with -s; docs/reliability.md's table quotes it
    if record is not None:
        record(summary)
    assert after < 1.10 * before, (before, after)


def test_eight_threads_by_twenty_requests_answer_as_alone_and_hold_memory(served,
                                                                         record_property):
    check_load(served, 8, 20, record=lambda text: record_property("load", text))


@pytest.mark.slow
def test_two_thousand_requests_on_eight_threads_answer_as_alone_and_hold_memory(
        served, record_property):
    check_load(served, 8, 250, record=lambda text: record_property("load", text))


def test_malformed_requests_mixed_into_the_load_fail_alone_and_disturb_no_other(served):
    serve, requests, alone = served
    answers, bad_errors, unexpected = hammer(serve, requests, 4, 6, bad_every=3)
    assert not unexpected, unexpected[:3]
    assert len(bad_errors) == 8 and len(answers) == 16
    assert_same_as_alone(answers, requests, alone)
    good = serve(images=requests[0])  # and the signature still serves afterwards
    np.testing.assert_array_equal(good["masks"].numpy(), alone[0]["masks"])


def test_resident_memory_is_read_from_proc():
    assert os.path.exists("/proc/self/status")
    size = resident_kib()
    ballast = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
    assert resident_kib() > size + 32 * 1024
    del ballast
