"""Benchmark of the playground: how many updates per second a training page receives while it plays.

    python benchmarks/playground.py                 # writes its section of benchmarks/RESULTS.md
    python benchmarks/playground.py --seconds 3 --no-write

Starts ``scratchnn playground`` on a free loopback port, opens the training
page in headless Chromium (Debian's ``chromium`` through Playwright), presses
play and counts the ``update`` messages the page receives (each one redraws
the boundary, every neuron's heatmap, the links and the chart) over a window
of ``--seconds`` after a one-second warm-up. Two networks on the 500 points of
the circle data set: 2-4-2 tanh (inputs x1, x2; one hidden layer of 4) and six
hidden layers of 8 tanh neurons. The target for the first is 20 updates per
second on a 2-core machine. The server trains for 20 ms between two updates
(at most 40 a second), so the epochs per second are reported too.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- playground:start -->", "<!-- playground:end -->"
NETWORKS = {
    "2-4-2 tanh": "hidden=4&activation=tanh",
    "2-8x6-2 tanh (6 layers of 8)": "hidden=8%2C8%2C8%2C8%2C8%2C8&activation=tanh",
}
TARGET = 20.0


def start_server() -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnn", "playground", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://\S+/", line)
    if match is None:
        proc.kill()
        sys.exit(f"the playground did not start: {line!r}")
    return proc, match.group(0)


def measure(page, url: str, query: str, seconds: float) -> dict:
    page.goto(f"{url}?{query}")
    page.wait_for_function("window.playground && playground.boundary !== null", timeout=20000)
    page.click("#play")
    time.sleep(1.0)
    read = "[playground.updates, playground.epoch, performance.now()]"
    u0, e0, t0 = page.evaluate(read)
    time.sleep(seconds)
    u1, e1, t1 = page.evaluate(read)
    page.click("#play")
    elapsed = (t1 - t0) / 1000
    return {"updates": (u1 - u0) / elapsed, "epochs": (e1 - e0) / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per network")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("needs Debian's chromium: apt-get install chromium")
    proc, url = start_server()
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            for name, query in NETWORKS.items():
                result = measure(page, url, query, args.seconds)
                rows.append((name, result))
                updates, epochs = result["updates"], result["epochs"]
                print(f"{name}: {updates:.1f} updates/s, {epochs:.0f} epochs/s", flush=True)
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    first = rows[0][1]["updates"]
    verdict = "yes" if first >= TARGET else "NO"
    lines = [
        "## Playground: updates per second a playing page receives",
        "",
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"`python benchmarks/playground.py --seconds {args.seconds:g}`; circle data, 500 points, "
        "batch 10, one tab in headless Chromium. Updates include every heatmap; the server trains 20 ms "
        "between two (at most 40 a second).",
        "",
        "| network | updates/s | epochs/s |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {r['updates']:.1f} | {r['epochs']:.0f} |" for name, r in rows),
        "",
        f"2-4-2 at least {TARGET:g} updates/s: {verdict}",
    ]
    if not args.no_write:
        replace_section(RESULTS, START, END, "\n".join(lines))
        print(f"wrote {RESULTS}")
    return 0 if first >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
