"""For the playground tests: the real server in a subprocess, Debian's chromium through Playwright."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def screenshot_dir(tmp_path: Path) -> Path:
    """Where a test's screenshots go: ``tmp_path``, so that a test run leaves the checkout as it was;
    with ``SCRATCHNN_UPDATE_ASSETS=1``, ``docs/assets`` (the README's and the guide's pictures)."""
    folder = ROOT / "docs" / "assets" if os.environ.get("SCRATCHNN_UPDATE_ASSETS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def env() -> dict:
    """The environment of a subprocess that imports this checkout's scratchnn."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


class Server:
    """``python -m scratchnn playground ARGS`` running; ``url`` is the address it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scratchnn", "playground", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=ROOT,
        )
        self.lines: queue.Queue = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.lines.get(timeout=30)
        match = re.search(r"http://\S+/", first or "")
        if match is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no address printed: {first!r}; stderr: {self.proc.stderr.read()}")
        self.url = match.group(0)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def get(self, path: str, timeout: float = 10):
        """``(status, body bytes)`` of GET ``path``."""
        return request(self.url + path.lstrip("/"), timeout=timeout)

    def status(self) -> dict:
        code, body = self.get("api/status")
        assert code == 200
        return json.loads(body)

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C (SIGINT), as a user stops it; ``(exit status, stdout, stderr)``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            err = self.proc.stderr.read()
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self._reader.join(timeout=10)
            self.proc.stdout.close()
            self.proc.stderr.close()
        return code, "".join(self.stdout), err


def request(url: str, data: bytes | None = None, method: str | None = None, headers=None, timeout=10):
    """``(status, body)`` of one HTTP request; error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def pixels(png: bytes) -> np.ndarray:
    """A screenshot's pixels, ``(height, width, 3)`` RGB as int16 (so that differences can be negative)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def bitmap_of(image: np.ndarray) -> np.ndarray:
    """A 32x32 binary bitmap whose 4x4 blocks hold as many on pixels as the 8x8 image's values, row by row."""
    bitmap = np.zeros((32, 32), dtype=np.uint8)
    for i in range(8):
        for j in range(8):
            block = np.zeros(16, dtype=np.uint8)
            block[: image[i, j]] = 1
            bitmap[4 * i : 4 * i + 4, 4 * j : 4 * j + 4] = block.reshape(4, 4)
    return bitmap


def chromium_path() -> str:
    """Debian's chromium (Playwright's own browser download cannot be reached here); fails if missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium (make test does it)")
    return path


class Browser:
    """A headless chromium; ``page(url)`` opens a tab that records console errors and page errors."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium_path())
        viewport = {"width": 1280, "height": 860}
        self.context = self.browser.new_context(viewport=viewport, accept_downloads=True)

    def page(self, url: str):
        page = self.context.new_page()
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(url)
        return page

    def close(self) -> None:
        self.context.close()
        self.browser.close()
        self._pw.stop()


def ws_url(server: Server) -> str:
    """The address of the server's WebSocket."""
    return server.url.replace("http://", "ws://") + "ws"


def until_pong(ws) -> list[dict]:
    """Every message up to the answer to a ping sent now."""
    ws.send(json.dumps({"type": "ping"}))
    seen = []
    while True:
        message = json.loads(ws.recv(timeout=20))
        if message["type"] == "pong":
            return seen
        seen.append(message)
