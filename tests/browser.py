"""Headless Chromium for the tests: load a page, read its DOM after its scripts ran.

Chromium comes from the Debian package (``apt-get install chromium``; ``.ci/run`` installs
it). It is started with a new profile and no network features, and never reaches out.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0")


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(url: str, *extra: str, budget_ms: int = 5000) -> subprocess.CompletedProcess:
    """Chromium on ``url`` with ``extra`` flags (``--dump-dom``, ``--screenshot=...``)."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}",
                               f"--virtual-time-budget={budget_ms}", *extra, url],
                              capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    """Lines of Chromium's log that report a page's script error or a blocked request."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line
            or "ERR_FILE_NOT_FOUND" in line]
