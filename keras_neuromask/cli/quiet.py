"""A quiet start for the command line: TensorFlow's C++ start-up lines are kept off the terminal.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA drivers, the absl
``InitializeLog`` warning, cuDNN/cuFFT factory registrations) from C++ straight to file
descriptor 2 while it is imported, twice (once per native library), whatever
``TF_CPP_MIN_LOG_LEVEL`` says. So the command line imports TensorFlow once with descriptor 2
pointed at a temporary file, then writes back to the real stderr every line that is not such a
log line (a Python warning or an error still shows).

``explain-dataset`` starts worker processes that import TensorFlow themselves, so it runs
inside :func:`filtered_stderr` instead: descriptor 2 (inherited by the workers) is a pipe whose
lines are filtered the same way by a thread, and the real stderr is restored afterwards.

Only the command line calls these (``neuromask --debug`` does not): the library never changes
a user's logging or streams.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

# absl ("I0000 00:00:1796398110.642729    2698 port.cc:153] ...") and the older TF format
# ("2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] ...").
_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def is_start_up_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ log lines (see the module docstring)."""
    return bool(_LOG_LINE.match(line))


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up lines filtered out of stderr.

    Also sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it, for the C++ lines of older
    TensorFlow versions that honour it. A second call does nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not is_start_up_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


@contextlib.contextmanager
def filtered_stderr():
    """For the block's duration, file descriptor 2 of this process and of the processes it
    starts goes through a filter that drops TensorFlow's C++ log lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not is_start_up_noise(line.decode("utf-8", errors="replace")):
                    os.write(saved, line)

    thread = threading.Thread(target=pump, name="neuromask-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer here is gone: the pump sees its end
        thread.join(timeout=10)
        if not thread.is_alive():  # a worker still holding the pipe keeps the copy open
            os.close(saved)
