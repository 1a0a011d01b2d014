"""What a new user broke on the command line: each case through the real console script, in a subprocess.

Every case asserts the exit status and the one error line (no traceback, no
"unexpected", naming the option, column or value at fault); the cases that
once ate a machine's memory also bound the child's peak memory and time,
measured by a small launcher that reads its child's ``ru_maxrss``.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cli_support
import numpy as np
from cli_support import TIMEOUT, cli_env, run, scratchnn_command, start

_MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[2:], capture_output=True, text=True)
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(proc.returncode)
"""


def run_measured(
    args: list[str], cwd: Path, timeout: float = 300
) -> tuple[subprocess.CompletedProcess, float, float]:
    """``(process, peak memory in MB, CPU seconds)`` of the command, measured by its own launcher.

    CPU time (user + system) rather than wall time: the bound then holds on a loaded machine too.
    """
    env = cli_env()
    usage = cwd / "usage.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(usage), *scratchnn_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    maxrss, seconds = usage.read_text().split()
    return proc, int(maxrss) / 1024, float(seconds)  # ru_maxrss is in KB on Linux


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line on stderr (``cli_support.error_line``), and not an "unexpected" error either."""
    line = cli_support.error_line(proc)
    assert "unexpected" not in line
    return line


# -- 3: an id column is not one-hot encoded in full -------------------------------------------------


def test_a_column_of_unique_ids_is_refused_quickly_naming_it(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    rows = [f"u{i:06d},{a:.4f},{'yes' if a > 0 else 'no'}" for i, a in enumerate(rng.standard_normal(n))]
    (tmp_path / "people.csv").write_text("id,score,label\n" + "\n".join(rows) + "\n")
    proc, mb, seconds = run_measured(["train", "--data", "people.csv", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert "column 'id'" in line
    assert "distinct values" in line
    assert "identifier" in line
    assert "remove the column" in line
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s of CPU"
    assert not (tmp_path / "o").exists()


def test_text_columns_beyond_the_one_hot_limit_are_refused_naming_the_column_and_the_limit(tmp_path):
    from scratchnn.data.columns import MAX_ONE_HOT_COLUMNS

    k = MAX_ONE_HOT_COLUMNS + 100
    n = 8 * k  # every category eight times: not an identifier, but too many
    rows = [f"c{i % k},{i % 7},{'yes' if i % 2 else 'no'}" for i in range(n)]
    (tmp_path / "wide.csv").write_text("code,size,label\n" + "\n".join(rows) + "\n")
    proc, mb, seconds = run_measured(["train", "--data", "wide.csv", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert "column 'code'" in line
    assert f"more than the {MAX_ONE_HOT_COLUMNS} allowed" in line
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s of CPU"


def test_a_text_column_of_a_few_categories_is_still_one_hot_encoded(tmp_path):
    rows = [f"{('red', 'green', 'blue')[i % 3]},{i % 5},{'yes' if i % 2 else 'no'}" for i in range(60)]
    (tmp_path / "ok.csv").write_text("colour,size,label\n" + "\n".join(rows) + "\n")
    proc = run(["train", "--data", "ok.csv", "--out", "o", "--epochs", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "one-hot encoded into 3 columns" in proc.stdout


# -- 8: --image-shape is checked against the features the network sees ------------------------------


def _coloured(tmp_path: Path) -> None:
    """A table whose text column becomes 3 columns: 2 raw features, 4 once encoded."""
    rows = [f"{('red', 'green', 'blue')[i % 3]},{i % 5},{'yes' if i % 2 else 'no'}" for i in range(60)]
    (tmp_path / "colours.csv").write_text("colour,size,label\n" + "\n".join(rows) + "\n")


def test_image_shape_of_the_raw_columns_is_refused_naming_the_encoded_width(tmp_path):
    _coloured(tmp_path)
    proc = run(["train", "--data", "colours.csv", "--image-shape", "1x1x2", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert line == (
        "error: --image-shape 1x1x2 needs 2 features per row, but colours.csv has 4 once its text "
        "columns are one-hot encoded"
    )
    assert not (tmp_path / "o").exists()


def test_image_shape_of_the_encoded_columns_trains_a_cnn(tmp_path):
    _coloured(tmp_path)
    args = ["--image-shape", "1x2x2", "--layers", "conv4k1-relu-dense", "--epochs", "2", "--quiet"]
    proc = run(["train", "--data", "colours.csv", *args, "--out", "o"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "model.npz").exists()
    assert (tmp_path / "o" / "feature_maps.png").exists()


# -- 9: a target of small magnitude is not a constant -----------------------------------------------


def _prices(tmp_path: Path, unit: float) -> str:
    """A linear target plus a little noise, written in units of ``unit``; the file's name."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 2))
    y = (x @ [1.0, 2.0] + 0.1 * rng.standard_normal(300)) * unit
    name = f"prices_{unit:g}.csv"
    rows = "\n".join(f"{a!r},{b!r},{v!r}" for (a, b), v in zip(x.tolist(), y.tolist()))
    (tmp_path / name).write_text("a,b,price\n" + rows + "\n")
    return name


def _test_r2(proc: subprocess.CompletedProcess) -> float:
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("Test (held-out test rows): R2"))
    return float(line.split()[5].rstrip(","))


def test_a_target_in_tiny_units_is_learned_as_well_as_in_ordinary_units(tmp_path):
    scores = {}
    for unit in (1.0, 1e-20):
        args = ["--target", "price", "--epochs", "30", "--quiet", "--out", f"o{unit:g}"]
        scores[unit] = _test_r2(run(["train", "--data", _prices(tmp_path, unit), *args], tmp_path))
    assert scores[1.0] > 0.9
    assert abs(scores[1e-20] - scores[1.0]) < 1e-6


def test_the_regressor_learns_a_target_in_tiny_units():
    from scratchnn.sklearn import ScratchNNRegressor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 2))
    y = x @ [1.0, 2.0] + 0.1 * rng.standard_normal(300)
    ordinary = ScratchNNRegressor(epochs=30, random_state=0).fit(x, y).score(x, y)
    tiny = ScratchNNRegressor(epochs=30, random_state=0).fit(x, y * 1e-20).score(x, y * 1e-20)
    assert ordinary > 0.9
    assert abs(tiny - ordinary) < 1e-6


# -- 11: tune --scheduler at a wrong address fails in one line, in bounded time ---------------------


def _listener(answer: bytes | None) -> tuple[socket.socket, int]:
    """A local port where something that is not a Dask scheduler listens (``answer``: what it says)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_tune_refuses_a_scheduler_address_where_no_dask_scheduler_answers(tmp_path):
    from scratchnn.hyperparameter_tuning import SCHEDULER_TIMEOUT

    web, web_port = _listener(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi")
    silent, silent_port = _listener(None)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    free_port = free.getsockname()[1]
    free.close()  # nothing listens there now
    cases = {
        "notaurl": "is not a Dask scheduler address",
        f"tcp://127.0.0.1:{web_port}": "is not a Dask scheduler",
        f"tcp://127.0.0.1:{silent_port}": "could not reach the Dask scheduler",
        f"tcp://127.0.0.1:{free_port}": "could not reach the Dask scheduler",
    }
    try:
        for address, words in cases.items():
            started = time.perf_counter()
            proc = run(["tune", "--data", "iris", "--scheduler", address, "--out", "t"], tmp_path)
            seconds = time.perf_counter() - started
            line = error_line(proc)
            assert line.startswith(
                f"error: --scheduler: {address!r}" if address == "notaurl" else "error: --scheduler: "
            )
            assert address in line
            assert words in line, line
            assert seconds < SCHEDULER_TIMEOUT + 60, f"{address}: {seconds:.0f} s"
            assert not (tmp_path / "t").exists()
    finally:
        web.close()
        silent.close()


# -- 12: predict and evaluate advise no option they lack -----------------------------------------------------


def test_predict_and_evaluate_errors_advise_no_training_option(tmp_path):
    rows = [f"{('oslo', 'rome')[i % 2]},{i % 7},{'yes' if i % 3 else 'no'}" for i in range(40)]
    (tmp_path / "towns.csv").write_text("city,size,label\n" + "\n".join(rows) + "\n")
    trained = run(["train", "--data", "towns.csv", "--epochs", "1", "--quiet", "--out", "m"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    (tmp_path / "words.csv").write_text("city,size\noslo,3\nrome,big\n")
    (tmp_path / "gap.csv").write_text("city,size\noslo,3\nrome,\n")
    (tmp_path / "no_city.csv").write_text("size,label\n3,yes\n4,no\n")
    cases = {
        ("predict", "--input", "words.csv"): "words.csv: column 'size' on line 3 holds 'big', which is not a "
        "number (the model reads this column as numbers)",
        (
            "predict",
            "--input",
            "gap.csv",
        ): "gap.csv: missing value (an empty cell) in column 'size' on line 3; "
        "the model was trained without --impute, so every cell needs a value",
        ("evaluate", "--data", "no_city.csv"): "no_city.csv lacks the column 'city', which the model reads "
        "as categories",
    }
    for (command, option, path), message in cases.items():
        line = error_line(run([command, "--model", "m/model.npz", option, path], tmp_path))
        assert line == f"error: {message}"


# -- 13: a file of blank lines asks for no memory -------------------------------------------------


def test_a_csv_of_20_mb_of_blank_lines_is_refused_in_little_memory(tmp_path):
    header = ",".join(f"c{i}" for i in range(200)) + ",label\n"
    with open(tmp_path / "blank.csv", "w") as f:
        f.write(header)
        f.write("\n" * (20 << 20))
    proc, mb, seconds = run_measured(["train", "--data", "blank.csv", "--out", "o"], tmp_path)
    assert error_line(proc) == "error: blank.csv has a header but no data rows"
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s of CPU"


# -- 15: an option that --layers replaces is refused, not dropped ------------------------------------


def test_options_that_layers_replaces_are_refused_next_to_it(tmp_path):
    layers = ["--layers", "dense16-relu-dense"]
    for option, value in (("--hidden", "64"), ("--dropout", "0.5"), ("--activation", "tanh")):
        proc = run(["train", "--data", "iris", *layers, option, value, "--out", "o"], tmp_path)
        assert error_line(proc) == (
            f"error: {option} {value} has no effect with --layers, whose spec names every layer, its "
            f"activation and its dropout: drop {option} or write it into the spec"
        )
    proc = run(["train", "--data", "iris", *layers, "--epochs", "1", "--quiet", "--out", "o"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "o" / "model.npz") as z:
        training = json.loads(str(z["__meta__"]))["metadata"]["training"]
    assert training["layers"] == "dense16-relu-dense"
    assert not {"hidden_units", "activation", "dropout"} & set(training)


# -- 17: a regression target no network can fit is refused for what it is ------------------------------


def test_a_target_too_large_to_square_or_constant_is_refused_naming_the_column(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((50, 2)).tolist()
    targets = {
        "huge.csv": [(a + b) * 1e300 for a, b in x],
        "one.csv": [1e308 if i == 3 else a + b for i, (a, b) in enumerate(x)],
        "constant.csv": [5.0] * 50,
    }
    for name, y in targets.items():
        rows = "\n".join(f"{a!r},{b!r},{v!r}" for (a, b), v in zip(x, y))
        (tmp_path / name).write_text("a,b,y\n" + rows + "\n")
    expected = {
        "huge.csv": f"huge.csv: target column 'y' holds {targets['huge.csv'][0]:g} on line 2, beyond the "
        "1e+150 a squared error can hold; rescale the column (divide it by a power of ten)",
        "one.csv": "one.csv: target column 'y' holds 1e+308 on line 5, beyond the 1e+150 a squared error "
        "can hold; rescale the column (divide it by a power of ten)",
        "constant.csv": "constant.csv: target column 'y' is 5 in every row: there is nothing to predict (a "
        "regression needs a target that varies)",
    }
    for name, message in expected.items():
        args = ["train", "--data", name, "--target", "y", "--task", "regression", "--out", "o"]
        assert error_line(run(args, tmp_path)) == f"error: {message}"
        assert not (tmp_path / "o").exists()


# -- 18: --force and Ctrl-C remove nothing of the earlier run but what the new one saved --------------


def test_force_then_ctrl_c_keeps_the_earlier_runs_plots(tmp_path):
    first = run(["train", "--data", "iris", "--epochs", "2", "--quiet", "--out", "o"], tmp_path)
    assert first.returncode == 0, first.stderr
    plots = {p.name: p.read_bytes() for p in (tmp_path / "o").glob("*.png")}
    assert "learning_curves.png" in plots
    proc = start(["train", "--data", "iris", "--epochs", "100000", "--force", "--out", "o"], tmp_path)
    try:
        for line in proc.stdout:
            if line.startswith("Epoch 2/"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "o").glob("*.png")} == plots
    history = json.loads((tmp_path / "o" / "history.json").read_text())
    assert history["interrupted"] is True


# -- 19: a network too deep to start is told so, not to scale its standardised data -------------------


def test_a_stack_that_overflows_before_any_update_is_told_to_use_fewer_layers(tmp_path):
    spec = "-".join(["dense64"] * 400 + ["dense"])
    proc = run(["train", "--data", "iris", "--layers", spec, "--epochs", "1", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert line.startswith("error: training diverged in epoch 1 (batch 1) before any update")
    assert "the 401 layers of --layers make its outputs overflow" in line
    assert "use fewer layers" in line
    assert "scale them" not in line
    assert not (tmp_path / "o").exists()


# -- 21: a CSV number is a CSV number, and a row is named by its first line ---------------------------


def test_an_underscore_number_is_not_a_number_and_a_multiline_row_is_named_by_its_first_line(tmp_path):
    good = "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(10))
    (tmp_path / "underscore.csv").write_text("a,b,label\n1,2,x\n5,8_243,y\n" + good)
    (tmp_path / "multiline.csv").write_text('a,b,label\n1,2,x\n5,"two\nlines"\n' + good)
    prices = "".join(f"{i},{i % 3},{i * 1.5}\n" for i in range(10))
    (tmp_path / "target.csv").write_text("a,b,price\n1,2,3.5\n5,6,8_243\n" + prices)
    cases = {
        "underscore.csv": ["underscore.csv: column 'b' on line 3 holds '8_243', which is not a number"],
        "target.csv --target price --task regression": [
            "--task regression needs numbers",
            "'8_243' on line 3",
        ],
        "multiline.csv": ["multiline.csv: line 3 has 2 cells, but the header has 3 columns"],
    }
    for name, words in cases.items():
        line = error_line(run(["train", "--data", *name.split(), "--out", "o"], tmp_path))
        for word in words:
            assert word in line, line


# -- documentation: train's help shows each example on its own lines --------------------------------


def test_train_help_shows_each_example_on_one_line_without_a_continuation(tmp_path):
    proc = run(["train", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    examples = proc.stdout.rsplit("\nexamples:\n", 1)[1].strip("\n").splitlines()
    assert examples
    for line in examples:
        assert line.startswith("  scratchnn train ")
        assert "  " not in line.strip(), f"a continuation joined two lines: {line!r}"
    assert "\\" not in proc.stdout


# -- the errors guide states each limit as the code declares it ---------------------------------------


def test_the_errors_guide_states_each_limit_with_its_declared_value():
    from scratchnn.cli.tables import MAX_TARGET
    from scratchnn.data.columns import ID_LIKE, MAX_ONE_HOT_COLUMNS
    from scratchnn.hyperparameter_tuning import SCHEDULER_TIMEOUT
    from scratchnn.playground import server
    from scratchnn.playground.session import IDLE_TIMEOUT
    from scratchnn.playground.text import MAX_TEXT_VOCAB

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "errors.md").read_text()
    rows = {row.split("|")[2].strip() for row in guide.splitlines() if row.startswith("| ")}
    assert f"{MAX_ONE_HOT_COLUMNS} columns in all (`scratchnn.data.columns.MAX_ONE_HOT_COLUMNS`)" in rows
    least, share = ID_LIKE
    assert (
        f"more than {least} distinct values that are at least {share:.0%} of its non-empty training cells "
        "(`scratchnn.data.columns.ID_LIKE`)"
    ) in rows
    assert (
        f"magnitude {MAX_TARGET:.0e}".replace("e+", "e")
        + ", so that its squares stay finite (`scratchnn.cli.tables.MAX_TARGET`)"
        in rows
    )
    assert (
        f"{SCHEDULER_TIMEOUT:g} s to connect and hear a Dask scheduler answer "
        "(`scratchnn.hyperparameter_tuning.SCHEDULER_TIMEOUT`)"
    ) in rows
    assert (
        f"{server.MAX_UPLOAD_BYTES >> 20} MB (`MAX_UPLOAD_BYTES`) and {server.MAX_UPLOAD_ROWS} lines "
        "(`MAX_UPLOAD_ROWS`)"
    ) in rows
    assert f"{server.MAX_DRAWING_BYTES >> 10} KB (`MAX_DRAWING_BYTES`)" in rows
    assert (
        f"{server.MAX_TEXT_UPLOAD_BYTES >> 10} KB (`MAX_TEXT_UPLOAD_BYTES`) and {MAX_TEXT_VOCAB} distinct "
        "characters (`scratchnn.playground.text.MAX_TEXT_VOCAB`)"
    ) in rows
    assert f"{server.MAX_MESSAGE_CHARS >> 10} KB of text (`MAX_MESSAGE_CHARS`)" in rows
    assert f"{IDLE_TIMEOUT:g} s (`scratchnn.playground.session.IDLE_TIMEOUT`, `--idle-timeout`)" in rows
    assert f"past {server.DRAIN_FACTOR} times the limit (`DRAIN_FACTOR`)" in guide


def test_a_model_file_whose_column_plan_passes_the_one_hot_limit_is_refused(tmp_path):
    from scratchnn.data.columns import MAX_ONE_HOT_COLUMNS

    rows = [f"{('oslo', 'rome')[i % 2]},{i % 7},{'yes' if i % 3 else 'no'}" for i in range(40)]
    (tmp_path / "towns.csv").write_text("city,size,label\n" + "\n".join(rows) + "\n")
    trained = run(["train", "--data", "towns.csv", "--epochs", "1", "--quiet", "--out", "m"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    with np.load(tmp_path / "m" / "model.npz", allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(str(arrays["__meta__"]))
    (city,) = [c for c in meta["metadata"]["columns"]["columns"] if c["name"] == "city"]
    city["categories"] = [f"town{i}" for i in range(MAX_ONE_HOT_COLUMNS + 1)]
    np.savez(tmp_path / "wide.npz", **{**arrays, "__meta__": np.array(json.dumps(meta))})
    (tmp_path / "rows.csv").write_text("city,size\noslo,3\n")
    proc, mb, seconds = run_measured(["predict", "--model", "wide.npz", "--input", "rows.csv"], tmp_path)
    line = error_line(proc)
    assert f"one-hot encodes its text columns into {MAX_ONE_HOT_COLUMNS + 1} columns" in line
    assert f"more than the {MAX_ONE_HOT_COLUMNS} allowed" in line
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s of CPU"


def test_ctrl_c_while_tune_waits_for_a_silent_scheduler_stops_it_at_once(tmp_path):
    import psutil

    silent, port = _listener(None)
    proc = start(["tune", "--data", "iris", "--scheduler", f"tcp://127.0.0.1:{port}", "--out", "t"], tmp_path)
    try:
        child = psutil.Process(proc.pid)
        deadline = time.time() + 120
        while not any(c.raddr and c.raddr.port == port for c in child.net_connections()):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "tune never connected to the scheduler's port"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # while it waits for an answer that never comes
        started = time.perf_counter()
        _, err = proc.communicate(timeout=60)
        seconds = time.perf_counter() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        silent.close()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted; nothing was saved"]
    assert seconds < 5
    assert not (tmp_path / "t").exists()
