"""The training page in headless Chromium against the real server: play, step, URL state, downloads, CSV."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
from playground_support import ROOT, env, pixels, screenshot_dir

import scratchnn
from scratchnn.playground import datasets

READY = "window.playground && playground.boundary !== null && playground.settings !== null"
LAST = "playground.history[playground.history.length - 1]"


def open_page(browser, server, query: str = ""):
    page = browser.page(server.url + (f"?{query}" if query else ""))
    page.wait_for_function(READY, timeout=15000)
    return page


def epoch(page) -> int:
    return int(page.text_content("#epoch"))


def step(page, times: int) -> None:
    for _ in range(times):
        before = epoch(page)
        page.click("#step")
        page.wait_for_function(f"Number(document.getElementById('epoch').textContent) === {before + 1}")


def test_play_on_the_circle_learns_it_within_30_seconds_and_everything_moves(browser, server, tmp_path):
    page = open_page(browser, server)
    assert page.input_value("#ctl-dataset") == "circle"
    before = pixels(page.locator("#boundary").screenshot())
    page.click("#play")
    started = time.time()
    page.wait_for_function(f"{LAST} && ({LAST}[2] < 0.1 || {LAST}[3] >= 0.95)", timeout=30000)
    assert time.time() - started < 30
    first = epoch(page)
    chart_first = page.evaluate("document.getElementById('chart').toDataURL()")
    page.wait_for_function(f"Number(document.getElementById('epoch').textContent) > {first + 20}")
    page.wait_for_function(f"playground.history.length > {first + 20}")
    after = pixels(page.locator("#boundary").screenshot())
    changed = np.abs(after - before).max(axis=2) > 8
    assert changed.mean() > 0.05  # the boundary heatmap is redrawn as the network learns
    assert page.evaluate("document.getElementById('chart').toDataURL()") != chart_first
    assert float(page.text_content("#test-loss")) < 0.1 or float(page.text_content("#test-accuracy")) >= 0.95
    page.click("#play")  # pause
    page.wait_for_function("!playground.playing")
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    link = page.locator("#links path").nth(4)  # the weight from x2 to the first neuron
    link.dispatch_event("mousemove", {"clientX": 400, "clientY": 300})
    weight = float(link.get_attribute("data-weight"))
    assert page.is_visible("#tooltip")
    assert page.text_content("#tooltip").startswith(f"weight {weight:.4f}")
    assert weight == page.evaluate("playground.weights[0].w[1][0]")  # links run over (inputs, neurons)
    page.hover("#neuron-0-1")  # a hidden neuron drawn large
    page.wait_for_function("document.getElementById('showing').textContent.startsWith('neuron 2')")
    page.screenshot(path=str(screenshot_dir(tmp_path) / "playground.png"), full_page=True)
    assert page.errors == []
    page.close()


def test_step_is_one_epoch_pause_stops_and_reset_starts_over_with_new_weights(browser, server):
    page = open_page(browser, server, "dataset=gauss&seed=3")
    assert epoch(page) == 0
    step(page, 1)
    assert page.evaluate("playground.history.length") == 1
    step(page, 1)
    assert page.evaluate("playground.history.map(r => r[0])") == [1, 2]
    page.click("#play")
    page.wait_for_function("Number(document.getElementById('epoch').textContent) > 10")
    page.click("#play")
    page.wait_for_function("!playground.playing")
    paused = epoch(page)
    time.sleep(0.6)
    assert epoch(page) == paused
    assert page.evaluate("playground.history.length") == paused
    weights = page.evaluate("JSON.stringify(playground.weights)")
    page.click("#reset")
    page.wait_for_function("playground.epoch === 0 && playground.history.length === 0")
    page.wait_for_function("document.getElementById('epoch').textContent === '000'")  # drawn next frame
    assert page.evaluate("JSON.stringify(playground.weights)") != weights
    assert "seed=3&" not in page.evaluate("location.search")  # the new weights' seed is in the URL
    page.click("#add-layer")
    page.wait_for_selector("#neuron-2-1")
    page.click(".remove-neuron >> nth=0")
    page.wait_for_function("playground.settings.hidden.join() === '3,2,2'")
    assert "hidden=3%2C2%2C2" in page.evaluate("location.search")
    points = page.evaluate("JSON.stringify(playground.data.train)")
    page.click("#regenerate")  # new points from a new data seed
    page.wait_for_function(f"JSON.stringify(playground.data.train) !== {json.dumps(points)}")
    assert "data_seed=1&" not in page.evaluate("location.search")
    page.wait_for_function("document.getElementById('epoch').textContent === '000'")
    assert page.errors == []
    page.click("#play")
    page.wait_for_function("playground.playing")
    sessions = server.status()["sessions"]
    page.close()  # closing the tab ends its session and its training
    deadline = time.time() + 10
    while server.status()["sessions"] == sessions and time.time() < deadline:
        time.sleep(0.05)
    status = server.status()
    assert status["sessions"] == sessions - 1
    assert status["playing"] == 0


QUERY = (
    "dataset=xor&noise=0.1&train_share=0.6&batch_size=5&features=x1%2Cx2%2Cx1*x2&hidden=3%2C2&activation=relu"
    "&optimizer=adam&learning_rate=0.01&weight_decay=0.001&dropout=0.1&seed=42&data_seed=7&show_test=true"
)


def test_a_url_restores_every_control_and_reproduces_the_losses_of_the_downloaded_script(
    browser, server, tmp_path
):
    a = open_page(browser, server, QUERY)
    expected = dict(
        dataset="xor", noise="0.1", train_share="0.6", batch_size="5", activation="relu", optimizer="adam",
        learning_rate="0.01", weight_decay="0.001", dropout="0.1", seed="42", data_seed="7",
    )  # fmt: skip
    for name, value in expected.items():
        assert a.input_value(f"#ctl-{name}") == value, name
    assert a.is_checked("#ctl-show_test")
    checked = [a.is_checked(f"#feature-{i}") for i in range(len(datasets.FEATURES))]
    assert checked == [True, True, False, False, True, False, False]
    assert a.locator("[id^=neuron-0-]").count() == 3
    assert a.locator("[id^=neuron-1-]").count() == 2
    assert a.locator("[id^=neuron-2-]").count() == 0
    assert a.evaluate("location.search") == "?" + QUERY.replace("*", "*")
    step(a, 6)
    b = open_page(browser, server, QUERY)
    step(b, 6)
    history = a.evaluate("playground.history")
    assert b.evaluate("playground.history") == history
    assert len(history) == 6

    with a.expect_download() as download:
        a.click("#download-script")
    script = tmp_path / "playground_run.py"
    shutil.copy(download.value.path(), script)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    printed = [line.split() for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert [int(p[1]) for p in printed] == [1, 2, 3, 4, 5, 6]
    for p, row in zip(printed, history):
        assert abs(float(p[3]) - row[1]) < 1e-6  # training loss
        assert abs(float(p[5]) - row[2]) < 1e-6  # test loss
        assert abs(float(p[7]) - row[3]) < 1e-6  # test accuracy

    # acceptance 4: the model file predicts, on the heatmap's grid, what the page's heatmap shows
    with a.expect_download() as download:
        a.click("#download-model")
    model = tmp_path / "playground_model.npz"
    shutil.copy(download.value.path(), model)
    network = scratchnn.load(model)
    x = datasets.features(datasets.grid(50), ["x1", "x2", "x1*x2"])
    predicted = network.predict_proba(x)[:, 1]
    shown = np.array(a.evaluate("Array.from(playground.boundary)"))
    np.testing.assert_array_equal(predicted, shown)
    painted = np.array(a.evaluate(
        "Array.from(document.querySelector('#output-node canvas').getContext('2d')"
        ".getImageData(0, 0, 50, 50).data)"
    )).reshape(-1, 4)[:, :3]  # fmt: skip
    np.testing.assert_allclose(painted, colour_of(2 * predicted - 1), atol=1)
    assert a.errors == []
    assert b.errors == []
    a.close()
    b.close()


def colour_of(t: np.ndarray) -> np.ndarray:
    """The page's colour map (common.js ``colourOf``): orange at -1, light grey at 0, blue at +1."""
    white, orange, blue = np.array([232, 234, 235]), np.array([245, 147, 34]), np.array([8, 119, 189])
    t = np.clip(t, -1, 1)[:, None]
    return np.where(t < 0, white + (orange - white) * -t, white + (blue - white) * t)


def test_a_csv_upload_trains_and_bad_files_get_a_message_while_other_tabs_keep_training(
    browser, server, tmp_path
):
    other = open_page(browser, server, "dataset=spiral&hidden=8%2C8")
    other.click("#play")
    page = open_page(browser, server)

    rng = np.random.default_rng(1)
    rows = ["width,height,note,kind"]
    for w, h in rng.uniform(-3, 3, (400, 2)):
        rows.append(
            f"{w + 10:.3f},{h * 100:.2f},n{int(w * 10)},{'inside' if w * w + h * h < 4 else 'outside'}"
        )
    good = tmp_path / "rings.csv"
    good.write_text("\n".join(rows) + "\n")
    page.set_input_files("#csv-file", str(good))
    page.wait_for_selector("#csv-columns:not([hidden])")
    page.select_option("#csv-x1", "width")
    page.select_option("#csv-x2", "height")
    page.select_option("#csv-label", "kind")
    page.click("#csv-use")
    page.wait_for_function("playground.settings.dataset === 'csv' && playground.data.train.length === 200")
    assert page.evaluate("playground.data.label_names") == ["inside", "outside"]
    page.click("#play")
    page.wait_for_function("playground.epoch > 30")
    page.click("#play")
    page.wait_for_function("!playground.playing")
    history = page.evaluate("playground.history")
    assert history[-1][2] < history[0][2]

    bad = {
        "cell.csv": (
            "width,height,kind\n1,2,a\n3,4,b\n5,oops,a\n",
            "column 'height' on line 4 holds 'oops', which is not a number",
        ),
        "short.csv": ("width,height,kind\n1,2,a\n3,b\n", "line 3 has 2 cells, but the header has 3 columns"),
        "two.csv": ("width,height\n1,2\n", "needs a header with at least 3 columns"),
        "huge.csv": ("width,height,kind\n" + "1.5,2.5,a\n" * 500_000, "huge.csv is larger than 4 MB"),
    }  # fmt: skip
    for name, (text, message) in bad.items():
        training = other.evaluate("playground.epoch")
        path = tmp_path / name
        path.write_text(text)
        page.evaluate("showMessage('')")
        page.set_input_files("#csv-file", str(path))
        if name in (
            "cell.csv",
            "short.csv",
        ):  # the header is fine: the cells are read once the columns are chosen
            page.wait_for_selector("#csv-columns:not([hidden])")
            page.click("#csv-use")
        page.wait_for_function(
            f"document.getElementById('message').textContent.includes({json.dumps(message)})"
        )
        assert page.get_attribute("#message", "class") == "error"
        other.wait_for_function(f"playground.epoch > {training}")  # the other tab trains on
    assert server.status()["sessions"] >= 2
    assert page.evaluate("playground.settings.dataset") == "csv"  # the good file's run is still there
    # the browser notes each refused upload (a 4xx answer) in its console; nothing else went wrong
    assert [e for e in page.errors if "the server responded with a status of 4" not in e] == []
    assert other.errors == []
    page.close()
    other.close()
