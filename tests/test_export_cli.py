"""``scratchnn export`` in real subprocesses, on models trained by ``scratchnn train``, run by ONNX Runtime.

Two tables, each trained briefly in float32 and in float64: scikit-learn's
diabetes data (a regressor, with its target scaler) and a table of numbers
with empty cells and text columns (scaled, imputed and one-hot columns, string
labels). On 1,000 rows the exported graph gives what scratchnn gives for the
same rows: labels identical, probabilities and (standardised) predictions
within 1e-5 (float32) and 1e-12 (float64). Mistakes are one-line errors, status 2.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from cli_support import assert_one_line_error, scratchnn

from scratchnn.data import Scaler, TargetScaler, sources
from scratchnn.data.columns import ColumnPlan
from scratchnn.serialization import load_network
from scratchnn.validation import check_features

FAST = ["--epochs", "3", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01", "--quiet"]
N_ROWS = 1000
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def session(path) -> ort.InferenceSession:
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def load_model(path):
    """``(network, metadata, column plan, scaler)`` of a model file written by ``scratchnn train``."""
    network, meta = load_network(path)
    plan = ColumnPlan.from_dict(meta["columns"]) if meta.get("columns") else None
    return network, meta, plan, Scaler.from_dict(meta["scaler"])


def write_table(path, rng, n: int) -> None:
    """Numbers with empty cells, two text columns (one with empty cells) and a string label."""
    colours, sizes = ["red", "green", "blue", "amber"], ["S", "M", "L"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["height", "colour", "weight", "size", "age", "animal"])
        for _ in range(n):
            h, wt, age = rng.normal(50, 15), rng.normal(2000, 600), rng.integers(0, 20)
            colour, size = rng.choice(colours), rng.choice(sizes)
            animal = ["cat", "dog", "emu"][int(h > 50) + int(colour == "blue")]
            cells = [f"{h:.3f}", colour, f"{wt:.1f}", size, str(age), animal]
            for j in (0, 1, 4):
                if rng.random() < 0.05:
                    cells[j] = ""
            w.writerow(cells)


@pytest.fixture(scope="module", params=["float32", "float64"])
def table_model(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"table-{request.param}")
    write_table(folder / "animals.csv", np.random.default_rng(0), N_ROWS)
    scratchnn(
        "train", "--data", "animals.csv", "--target", "animal", "--impute", "median",
        "--dtype", request.param, "--out", "run", *FAST, cwd=folder,
    )  # fmt: skip
    scratchnn("export", "--model", "run/model.npz", "--format", "onnx", "--out", "run/model.onnx", cwd=folder)
    return folder, request.param


def test_table_model_with_scaled_imputed_and_one_hot_columns_runs_as_in_scratchnn(table_model):
    folder, dtype = table_model
    network, meta, plan, scaler = load_model(folder / "run/model.npz")
    assert plan.text_columns == ["colour", "size"]
    rows = sources.read_features(
        str(folder / "animals.csv"),
        meta["feature_names"],
        "animal",
        text=plan.text_columns,
        allow_missing=True,
    )
    assert rows.feature_names == plan.input_names
    assert np.isnan(rows.x).any()  # empty cells, which the plan fills
    # scratchnn's answer: the plan, the scaler, the network's float type, as predict does
    x = check_features(scaler.transform(plan.transform(rows)), dtype=network.dtype)
    numbers = [rows.feature_names.index(c["name"]) for c in plan.columns if c["kind"] == "number"]
    feed = {
        "features": rows.x[:, numbers].astype(dtype),
        "text": np.stack([rows.text[name] for name in plan.text_columns], axis=1).astype(object),
    }
    s = session(folder / "run/model.onnx")
    labels, proba = s.run(["label", "probabilities"], feed)
    np.testing.assert_array_equal(labels, network.predict(x))
    assert float(np.max(np.abs(proba - network.predict_proba(x)))) <= TOLERANCE[dtype]
    props = s.get_modelmeta().custom_metadata_map
    assert json.loads(props["scratchnn.label_names"]) == meta["label_names"] == ["cat", "dog", "emu"]
    assert json.loads(props["scratchnn.features"]) == ["height", "weight", "age"]
    assert json.loads(props["scratchnn.text"]) == ["colour", "size"]


def test_an_unseen_category_is_no_category_in_the_graph(table_model):
    """A graph cannot refuse a row: an unseen category is encoded as none (--unknown-categories ignore)."""
    folder, dtype = table_model
    network, _, plan, scaler = load_model(folder / "run/model.npz")
    ds = sources.Dataset(
        "rows", np.array([[40.0, np.nan, 1500.0, np.nan, 3.0]]), np.array(["cat"]),
        ["height", "colour", "weight", "size", "age"], "animal",
        text={"colour": np.array(["purple"]), "size": np.array(["M"])},
    )  # fmt: skip
    x = check_features(scaler.transform(plan.transform(ds, unknown="ignore")), dtype=network.dtype)
    feed = {
        "features": np.array([[40.0, 1500.0, 3.0]], dtype=dtype),
        "text": np.array([["purple", "M"]], dtype=object),
    }
    _, proba = session(folder / "run/model.onnx").run(None, feed)
    assert float(np.max(np.abs(proba - network.predict_proba(x)))) <= TOLERANCE[dtype]


@pytest.fixture(scope="module", params=["float32", "float64"])
def regressor(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"diabetes-{request.param}")
    scratchnn("train", "--data", "diabetes", "--dtype", request.param, "--out", "run", *FAST, cwd=folder)
    scratchnn("export", "--model", "run/model.npz", "--out", "run/model.onnx", cwd=folder)
    return folder, request.param


def test_regressor_predicts_in_the_target_units_as_in_scratchnn(regressor):
    folder, dtype = regressor
    network, meta, _, scaler = load_model(folder / "run/model.npz")
    target_scaler = TargetScaler.from_dict(meta["target_scaler"])
    ds = sources.load_source("diabetes")
    rng = np.random.default_rng(1)
    # 1,000 rows near the data's; in the graph's float type, which both sides then read
    raw = ds.x[rng.integers(0, len(ds.x), N_ROWS)] + rng.normal(0, 0.01, (N_ROWS, ds.x.shape[1]))
    raw = raw.astype(dtype)
    x = check_features(scaler.transform(raw), dtype=network.dtype)
    expected = target_scaler.inverse_transform(network.predict(x))
    (prediction,) = session(folder / "run/model.onnx").run(["prediction"], {"features": raw})
    assert prediction.shape == (N_ROWS,)
    assert prediction.dtype == np.float64
    # the network's outputs (the standardised target) agree within the tolerance; in the target's
    # units that is the tolerance times the target's scale (diabetes: 77), float32's own resolution
    diff = np.max(np.abs(prediction - expected)) / target_scaler.scale[0]
    assert float(diff) <= TOLERANCE[dtype]


def test_export_refuses_what_it_must_not_replace_in_one_line(regressor, tmp_path):
    folder, _ = regressor
    model = folder / "run/model.npz"
    (tmp_path / "mine.onnx").write_bytes(b"the user's file")
    proc = scratchnn("export", "--model", model, "--out", "mine.onnx", cwd=tmp_path, status=2)
    assert_one_line_error(proc, "already exists and was not written by scratchnn", "--force")
    assert (tmp_path / "mine.onnx").read_bytes() == b"the user's file"
    scratchnn("export", "--model", model, "--out", "mine.onnx", "--force", "--quiet", cwd=tmp_path)
    assert onnx.load(str(tmp_path / "mine.onnx")).producer_name == "scratchnn"
    proc = scratchnn("export", "--model", model, "--out", model, cwd=tmp_path, status=2)
    assert_one_line_error(proc, "is the --model file this command reads")
    proc = scratchnn("export", "--model", "missing.npz", "--out", "m.onnx", cwd=tmp_path, status=2)
    assert_one_line_error(proc, "missing.npz")
    proc = scratchnn("export", "--model", model, "--out", "m.onnx", "--opset", "13", cwd=tmp_path, status=2)
    assert_one_line_error(proc, "opset must be an int from 17")
    proc = scratchnn(
        "export", "--model", model, "--format", "tflite", "--out", "m.onnx", cwd=tmp_path, status=2
    )
    assert_one_line_error(proc, "--format")
    assert not (tmp_path / "m.onnx").exists()


def test_export_into_the_run_folder_records_the_file_and_replaces_its_own(regressor):
    folder, _ = regressor
    manifest = json.loads((folder / "run/.scratchnn-files.json").read_text())
    assert manifest["files"]["model.onnx"] == "export"
    proc = scratchnn("export", "--model", "run/model.npz", "--out", "run/model.onnx", cwd=folder)
    assert proc.stdout.startswith("Wrote run/model.onnx (ONNX opset 17")
