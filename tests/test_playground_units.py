"""The playground's parts without a server: data sets, controls, sessions, script, digit preprocessing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from playground_support import ROOT, bitmap_of, env

import scratchnn
from scratchnn.data import load_digits_split
from scratchnn.playground import datasets, digits
from scratchnn.playground.session import BOUNDARY_GRID, Session, Upload
from scratchnn.playground.settings import CONTROLS, check_settings, defaults


@pytest.mark.parametrize("name", list(datasets.DATASETS))
def test_each_dataset_is_two_balanced_classes_in_the_plane_and_fixed_by_its_seed(name):
    points, labels = datasets.make_points(name, 500, 0.1, seed=3)
    again, labels_again = datasets.make_points(name, 500, 0.1, seed=3)
    other, _ = datasets.make_points(name, 500, 0.1, seed=4)
    assert points.shape == (500, 2)
    assert labels.shape == (500,)
    np.testing.assert_array_equal(points, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(points, other)
    assert set(np.unique(labels)) == {0, 1}
    assert abs(labels.mean() - 0.5) < 0.05
    assert np.abs(points).max() <= datasets.EXTENT


def test_split_takes_the_first_share_for_training():
    points, labels = datasets.make_points("circle", 500, 0, 1)
    x_tr, _y_tr, x_te, _y_te = datasets.split(points, labels, 0.3)
    assert len(x_tr) == 150
    assert len(x_te) == 350
    np.testing.assert_array_equal(np.vstack([x_tr, x_te]), points)


def test_features_are_the_named_functions_of_x1_and_x2():
    p = np.array([[1.0, 2.0], [-3.0, 0.5]])
    x = datasets.features(p, ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"])
    expected = [[1, 2, 1, 4, 2, np.sin(1), np.sin(2)], [-3, 0.5, 9, 0.25, -1.5, np.sin(-3), np.sin(0.5)]]
    np.testing.assert_allclose(x, expected)
    with pytest.raises(ValueError, match="x3"):
        datasets.features(p, ["x3"])


def test_grid_runs_row_by_row_from_the_top_left():
    g = datasets.grid(4)
    assert g.shape == (16, 2)
    np.testing.assert_allclose(g[0], [-4.5, 4.5])  # top left cell centre
    np.testing.assert_allclose(g[3], [4.5, 4.5])
    np.testing.assert_allclose(g[-1], [4.5, -4.5])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": [4] * 7}, "hidden must be a list of at most 6 widths"),
        ({"hidden": [9]}, r"got \[9\]"),
        ({"learning_rate": 0}, "learning_rate must be a number from 1e-06 to 10, got 0"),
        ({"learning_rate": float("nan")}, "got nan"),
        ({"batch_size": 2.5}, "batch_size must be an integer"),
        ({"activation": "softplus"}, "activation must be one of relu, sigmoid, tanh"),
        ({"features": []}, "features must be a non-empty list"),
        ({"seed": True}, "seed must be an integer"),
        ({"nonsense": 1}, "unknown setting 'nonsense'"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting_and_the_value(values, message):
    with pytest.raises(ValueError, match=message):
        check_settings(values)


def test_every_control_accepts_its_default():
    assert check_settings(defaults()) == defaults()
    assert [c.name for c in CONTROLS] == list(defaults())


def test_the_same_settings_give_the_same_losses_and_reset_draws_new_weights():
    settings = check_settings({"dataset": "xor", "dropout": 0.2, "optimizer": "adam", "seed": 11})
    a, b = Session(settings), Session(settings)
    a.run(5)
    b.run(3)
    b.run(2)  # stepping in pieces reaches the same state
    assert a.history == b.history
    assert len(a.history) == 5
    before = [p.copy() for p in a.network.parameters()]
    a.configure(check_settings({"seed": 12}, settings))
    assert a.epoch == 0
    assert a.history == []
    assert not np.array_equal(before[0], a.network.parameters()[0])


def test_a_network_without_hidden_layers_is_logistic_regression_on_the_features():
    s = Session(check_settings({"hidden": [], "features": ["x1^2", "x2^2"]}))
    assert [type(layer).__name__ for layer in s.network.layers] == ["Dense"]
    s.run(40)
    assert s.history[-1][3] > 0.95  # the circle is linear in x1^2 and x2^2
    assert s.neurons() == []
    assert "no hidden layer" in s.script()


def test_a_time_budget_trains_at_least_one_epoch_and_divergence_stops_with_the_hint():
    s = Session(check_settings({}))
    assert len(s.run(None, seconds=0.0)) == 1
    wild = {"learning_rate": 10, "features": ["x1^2", "x2^2"], "hidden": [8] * 6, "activation": "identity"}
    wild = Session(check_settings(wild))
    assert wild.run(100) == []  # the first epoch already overflows
    assert wild.diverged == (
        "training diverged in epoch 1 (batch 4): the loss became nan; try a smaller learning rate than 10"
    )
    assert wild.run(5) == []


def test_the_downloaded_script_prints_the_sessions_losses(tmp_path):
    settings = check_settings(
        {"dataset": "spiral", "features": ["x1", "x2", "sin x1"], "hidden": [5, 3], "optimizer": "momentum",
         "dropout": 0.1, "seed": 5, "data_seed": 9, "noise": 0.2, "batch_size": 7}
    )  # fmt: skip
    s = Session(settings)
    s.run(6)
    path = tmp_path / "run.py"
    path.write_text(s.script())
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env(), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 6
    for line, row in zip(lines, s.history):
        assert int(line[1]) == row[0]
        assert abs(float(line[3]) - row[1]) < 1e-6
        assert abs(float(line[5]) - row[2]) < 1e-6


def test_the_model_file_predicts_the_boundary_the_page_gets(tmp_path):
    s = Session(check_settings({"features": ["x1", "x2", "x1*x2"], "hidden": [3]}))
    s.run(4)
    path = tmp_path / "m.npz"
    path.write_bytes(s.model_file())
    network = scratchnn.load(path)
    x = datasets.features(datasets.grid(BOUNDARY_GRID), ["x1", "x2", "x1*x2"])
    np.testing.assert_array_equal(network.predict_proba(x)[:, 1], s.boundary())


def test_csv_points_are_scaled_onto_the_plane_and_bad_cells_are_named():
    text = "a,b,kind\n0,10,cat\n1,20,dog\n2,30,cat\n"
    points, labels, names = datasets.read_points_csv(text, "a", "b", "kind")
    np.testing.assert_allclose(points, [[-6, -6], [0, 0], [6, 6]])
    assert labels.tolist() == [0, 1, 0]
    assert names == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"column 'b' on line 3 holds 'x', which is not a number"):
        datasets.read_points_csv("a,b,k\n1,2,u\n1,x,v\n", "a", "b", "k")
    with pytest.raises(ValueError, match="line 2 has 2 cells, but the header has 3 columns"):
        datasets.read_points_csv("a,b,k\n1,2\n", "a", "b", "k")
    with pytest.raises(ValueError, match="two distinct labels, got 3"):
        datasets.read_points_csv("a,b,k\n1,2,u\n1,3,v\n2,2,w\n", "a", "b", "k")
    with pytest.raises(ValueError, match="no column 'z'"):
        datasets.read_points_csv("a,b,k\n1,2,u\n", "a", "z", "k")


def test_a_session_trains_on_an_uploaded_file():
    rng = np.random.default_rng(0)
    points = rng.uniform(-2, 2, (300, 2))
    rows = [f"{x:.3f},{y:.3f},{'in' if x * x + y * y < 1 else 'out'}" for x, y in points]
    upload = Upload("ring.csv", "u,v,where\n" + "\n".join(rows), ["u", "v", "where"])
    upload.choose("u", "v", "where")
    s = Session(check_settings({"dataset": "csv"}), upload)
    s.run(30)
    assert s.history[-1][2] < s.history[0][2]
    assert s.data()["label_names"] == ["in", "out"]


def test_block_counts_and_normalise_follow_optdigits():
    bitmap = np.zeros((32, 32), dtype=np.uint8)
    bitmap[:4, :4] = 1
    bitmap[4:8, 0] = 1
    image = digits.block_counts(bitmap)
    assert image.shape == (8, 8)
    assert image[0, 0] == 16
    assert image[1, 0] == 4
    assert image.sum() == 20
    drawing = np.zeros((200, 300), dtype=np.uint8)
    drawing[50:150, 100:150] = 1  # a bar twice as tall as wide, off centre
    normalised = digits.normalise(drawing)
    rows, cols = np.flatnonzero(normalised.any(axis=1)), np.flatnonzero(normalised.any(axis=0))
    assert (rows[0], rows[-1]) == (0, 31)  # the longer side fills the 32 pixels
    assert (cols[0], cols[-1]) == (8, 23)  # the other keeps its aspect ratio, centred
    assert digits.normalise(np.zeros((10, 10))).sum() == 0


def test_digits_test_images_survive_the_preprocessing_when_drawn_large():
    model = digits.default_model()
    _, x_test, _, y_test = load_digits_split()
    images = np.round(x_test * 16).astype(int).reshape(-1, 8, 8)[:60]
    errors, correct = [], 0
    for image, label in zip(images, y_test[:60]):
        bitmap = bitmap_of(image)
        drawn = np.kron(bitmap, np.ones((8, 8), dtype=np.uint8))  # as on a 256x256 pad
        _, seen = digits.preprocess(drawn)
        errors.append(np.abs(seen - image).mean())
        correct += int(model.proba(seen[None]).argmax() == label)
    assert np.mean(errors) < 2
    assert correct / len(images) >= 0.9


def test_uploaded_labels_are_ordered_as_the_command_line_orders_them():
    # numbers numerically ("2" before "10"), as scratchnn.data.encode_labels: not as text ("10" < "2")
    _, labels, names = datasets.read_points_csv("a,b,k\n1,2,10\n3,4,2\n5,6,10\n", "a", "b", "k")
    assert names == ["2", "10"]
    assert labels.tolist() == [1, 0, 1]


def test_controls_that_show_a_training_setting_take_it_from_settings(monkeypatch):
    from scratchnn.playground.settings import Control
    from scratchnn.recipe.config import SETTINGS_BY_NAME

    shown = [c for c in CONTROLS if c.setting is not None]
    named = {"batch_size", "activation", "optimizer", "learning_rate", "weight_decay", "dropout"}
    assert {c.name for c in shown} == named
    for c in shown:
        setting = SETTINGS_BY_NAME[c.name]
        assert c.setting is setting
        assert (c.default, c.choices, c.help) == (setting.default, setting.choices, setting.help)
        assert defaults()[c.name] == setting.default
        if c.kind in ("int", "float"):  # the playground's range lies within the setting's
            assert c.low >= setting.low
            assert c.high <= setting.high
    # a change to the setting shows in the control; a playground range wider than the setting's is refused
    dropout = SETTINGS_BY_NAME["dropout"]
    monkeypatch.setitem(SETTINGS_BY_NAME, "dropout", dataclasses.replace(dropout, default=0.25, high=0.5))
    control = Control.of("dropout")
    assert (control.default, control.low, control.high) == (0.25, 0.0, 0.5)
    with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 500, got 501"):
        check_settings({"batch_size": 501})
    with pytest.raises(ValueError, match="must lie within the setting's"):
        Control.of("dropout", high=0.9)
    activation = SETTINGS_BY_NAME["activation"]
    monkeypatch.setitem(SETTINGS_BY_NAME, "activation", dataclasses.replace(activation, choices=("relu",)))
    assert Control.of("activation").choices == ("relu",)
    # the library's own check still applies: its learning rate excludes 0 where the control's low does not
    rate = Control.of("learning_rate", low=0.0, high=1.0)
    assert rate.check(0.5) == 0.5
    with pytest.raises(ValueError, match=r"learning_rate must be a number from 0 to 1 \(0 excluded\), got 0"):
        rate.check(0.0)


def test_the_playground_and_the_command_line_read_a_csv_file_to_the_same_arrays(tmp_path):
    from scratchnn.data import encode_labels
    from scratchnn.data.sources import load_source

    # a BOM, CRLF line ends, a blank line, quoted cells, spaces, exponents and numeric labels
    text = '\ufeffb,a,kind\r\n"1.5", 2,10\r\n\r\n-3e1,0.25,2\r\n 7 ,"-1",10\r\n4,4.5,2\r\n'
    path = tmp_path / "points.csv"
    path.write_bytes(text.encode("utf-8"))
    points, labels, names = datasets.read_points_csv(text.lstrip("\ufeff"), "a", "b", "kind", "points.csv")
    table = load_source(str(path), "kind")
    x = table.select(["a", "b"])
    np.testing.assert_array_equal(x, [[2, 1.5], [0.25, -30], [-1, 7], [4.5, 4]])
    low, high = x.min(axis=0), x.max(axis=0)
    np.testing.assert_allclose(
        points, (x - (low + high) / 2) / (high - low) * 2 * datasets.EXTENT, rtol=0, atol=1e-12
    )
    cli_labels, cli_names = encode_labels(table.labels)
    np.testing.assert_array_equal(labels, cli_labels)
    assert names == cli_names == ["2", "10"]
    # the same files are refused, for the same reasons
    for bad in ("a,a,kind\n1,2,u\n3,4,v\n", "b,a,kind\n1,8_243,u\n3,4,v\n", "b,a,kind\n1,2\n3,4,v\n"):
        path.write_text(bad)
        with pytest.raises(ValueError, match=str(path)) as cli:
            load_source(str(path), "kind", find_text=False)
        with pytest.raises(ValueError, match=str(path)) as playground:
            datasets.read_points_csv(bad, "a", "b", "kind", str(path))
        assert str(playground.value) == str(cli.value)


def test_every_page_is_its_body_in_the_shared_layout_with_a_menu_naming_every_page():
    from scratchnn.playground.server import PAGES, page_html

    for path, (_, title, _, script) in PAGES.items():
        html = page_html(path)
        assert html.startswith("<!doctype html>")
        assert f"<title>{title}</title>" in html
        assert html.count("<header>") == 1
        assert all(f'<a href="{href}">{name}</a>' in html for href, (_, _, name, _) in PAGES.items())
        assert html.endswith(f'<script src="/static/{script}"></script>\n</body>\n</html>\n')
        assert "{" not in html  # every slot of the layout filled
