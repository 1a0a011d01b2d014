"""Regression and tables as they come, through the ``scratchnn`` command in real subprocesses.

Two real CSV files: scikit-learn's diabetes data (a numeric target, ``y``),
and a table with a text column and empty cells. Each is trained, evaluated,
tuned and predicted on; the saved model predicts bit for bit what the
library predicts in this process; mistakes are one-line errors, status 2.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from cli_support import assert_one_line_error, scratchnn

from scratchnn.data import Scaler, sources
from scratchnn.data.columns import ColumnPlan
from scratchnn.serialization import load_network

FAST = ["--epochs", "8", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01"]


def write_csv(path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


COLOURS = ("red", "green", "blue")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """diabetes.csv (10 numeric features, target y) and table.csv (text column, empty cells, label)."""
    from sklearn.datasets import load_diabetes

    d = tmp_path_factory.mktemp("tables")
    bunch = load_diabetes()
    rows = [[repr(float(v)) for v in x] + [repr(float(t))] for x, t in zip(bunch.data, bunch.target)]
    write_csv(d / "diabetes.csv", [*bunch.feature_names, "y"], rows)
    write_csv(d / "diabetes_rows.csv", bunch.feature_names, [r[:-1] for r in rows[:25]])

    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        colour = COLOURS[i % 3]
        size = rng.normal(5, 2)
        weight = rng.normal(50, 10)
        label = "big" if size + (2.0 if colour == "red" else 0.0) > 5.5 else "small"
        rows.append(
            [
                "" if i % 13 == 4 else f"{size:.3f}",
                "" if i % 29 == 7 else colour,
                "" if i % 17 == 2 else f"{weight:.2f}",
                label,
            ]
        )
    write_csv(d / "table.csv", ["size", "colour", "weight", "label"], rows)
    write_csv(d / "table_rows.csv", ["size", "colour", "weight"], [["4.5", "red", "40"], ["", "blue", ""]])
    write_csv(
        d / "table_purple.csv", ["size", "colour", "weight"], [["4.5", "red", "40"], ["3", "purple", "1"]]
    )
    write_csv(d / "table_empty.csv", ["size", "colour", "weight"], [["4.5", "red", "40"], ["3", "blue", ""]])
    return d


# -- a numeric target ----------------------------------------------------------------------


def test_a_numeric_target_trained_as_classes_is_refused_with_its_count(files):
    proc = scratchnn("train", "--data", "diabetes.csv", "--out", "refused", "--task", "classification",
                     cwd=files, status=2)  # fmt: skip
    assert_one_line_error(
        proc, "diabetes.csv", "target column 'y'", "214 distinct numbers in 442 rows", "--task regression"
    )
    assert not (files / "refused" / "model.npz").exists()


# -- a table with a text column and empty cells --------------------------------------------


def predictions(text: str) -> list[str]:
    return [row["prediction"] for row in csv.DictReader(io.StringIO(text))]


def in_process_labels(model_path, rows_path) -> list[str]:
    """What the library predicts for the rows, through the model file's own plan and scaler."""
    network, meta = load_network(model_path)
    plan = ColumnPlan.from_dict(meta["columns"])
    rows = sources.read_features(
        str(rows_path), meta["feature_names"], meta["target"], text=plan.text_columns, allow_missing=True
    )
    x = Scaler.from_dict(meta["scaler"]).transform(plan.transform(rows))
    return [meta["label_names"][k] for k in network.predict(x)]


@pytest.fixture(scope="module")
def table_run(files):
    proc = scratchnn("train", "--data", "table.csv", "--out", "t", "--impute", "median", *FAST, cwd=files)
    return files, proc


def test_train_on_a_table_says_what_it_did_to_each_column(table_run):
    cwd, proc = table_run
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("table.csv: 240 rows, 3 features, 2 classes -> ")
    assert lines[1].startswith("column 'size': numbers; ")
    assert "empty cells filled with the training median" in lines[1]
    assert lines[2].startswith("column 'colour': text, one-hot encoded into 3 columns (blue, green, red); ")
    assert "filled with the most frequent category" in lines[2]
    assert lines[3].startswith("column 'weight': numbers; ")
    assert lines[-1].startswith("Test accuracy: ")
    meta = load_network(cwd / "t" / "model.npz")[1]
    assert meta["columns"]["impute"] == "median"
    assert [c["kind"] for c in meta["columns"]["columns"]] == ["number", "category", "number"]
    assert meta["feature_names"] == ["size", "colour", "weight"]
    assert meta["task"] == "classification"


def test_the_saved_table_model_predicts_bit_for_bit_what_the_library_predicts(table_run):
    cwd, _ = table_run
    first = scratchnn("predict", "--model", "t/model.npz", "--input", "table_rows.csv", cwd=cwd)
    second = scratchnn("predict", "--model", "t/model.npz", "--input", "table_rows.csv", "--proba", cwd=cwd)
    third = scratchnn("predict", "--model", "t/model.npz", "--input", "table_rows.csv", "--proba", cwd=cwd)
    assert second.stdout.encode() == third.stdout.encode()
    assert predictions(first.stdout) == in_process_labels(cwd / "t" / "model.npz", cwd / "table_rows.csv")
    assert predictions(second.stdout) == predictions(first.stdout)  # the second row: two empty cells, imputed


def test_evaluate_on_the_table_scores_its_held_out_rows(table_run):
    cwd, train = table_run
    proc = scratchnn("evaluate", "--model", "t/model.npz", "--data", "table.csv", cwd=cwd)
    assert "held-out test split of table.csv: 48 of 240 rows" in proc.stdout
    accuracy = proc.stdout.split("Accuracy: ")[1].split()[0]
    assert train.stdout.splitlines()[-1].startswith(f"Test accuracy: {accuracy}")


def test_an_unseen_category_is_a_one_line_error_unless_ignored(table_run):
    cwd, _ = table_run
    proc = scratchnn("predict", "--model", "t/model.npz", "--input", "table_purple.csv", cwd=cwd, status=2)
    assert_one_line_error(
        proc, "table_purple.csv", "column 'colour'", "line 3", "'purple'", "--unknown-categories"
    )
    proc = scratchnn(
        "predict",
        "--model",
        "t/model.npz",
        "--input",
        "table_purple.csv",
        "--unknown-categories",
        "ignore",
        cwd=cwd,
    )
    assert len(predictions(proc.stdout)) == 2


def test_a_missing_cell_without_impute_is_a_one_line_error(files):
    proc = scratchnn("train", "--data", "table.csv", "--out", "no-impute", *FAST, cwd=files, status=2)
    assert_one_line_error(
        proc, "table.csv", "missing value (an empty cell)", "column 'weight'", "line 4", "--impute"
    )
    assert not (files / "no-impute" / "model.npz").exists()
    # a model trained without --impute refuses empty cells when it predicts, too
    write_csv(
        files / "full.csv",
        ["size", "colour", "label"],
        [[str(i), COLOURS[i % 3], "ab"[i % 2]] for i in range(30)],
    )
    scratchnn("train", "--data", "full.csv", "--out", "full", *FAST, cwd=files)
    proc = scratchnn(
        "predict", "--model", "full/model.npz", "--input", "table_empty.csv", cwd=files, status=2
    )
    assert_one_line_error(proc, "table_empty.csv", "has column 'weight'")
    write_csv(files / "full_rows.csv", ["size", "colour"], [["1", "red"], ["", "blue"]])
    proc = scratchnn("predict", "--model", "full/model.npz", "--input", "full_rows.csv", cwd=files, status=2)
    assert_one_line_error(proc, "full_rows.csv", "missing value (an empty cell)", "column 'size'", "line 3")


def test_a_stray_word_in_a_numeric_column_names_the_cell_and_suggests_categorical(files):
    rows = [[str(i), str(i % 4), "ab"[i % 2]] for i in range(40)]
    rows[9][1] = "three"
    write_csv(files / "typo.csv", ["a", "code", "label"], rows)
    proc = scratchnn("train", "--data", "typo.csv", "--out", "typo", *FAST, cwd=files, status=2)
    assert_one_line_error(proc, "typo.csv", "column 'code' on line 11 holds 'three'", "--categorical code")
    proc = scratchnn(
        "train", "--data", "typo.csv", "--out", "typo", "--categorical", "code", *FAST, cwd=files
    )
    assert "column 'code': text, one-hot encoded into 5 columns (0, 1, 2, 3, three)" in proc.stdout


def test_tune_on_the_table_trains_the_best_settings_with_the_same_column_plan(files):
    settings = ["--grid", "learning_rate=0.01,0.03", "--epochs", "3", "--final-epochs", "5", "--hidden", "8"]
    proc = scratchnn("tune", "--data", "table.csv", "--out", "tt", "--impute", "mean", *settings, cwd=files)
    assert "column 'colour': text, one-hot encoded into 3 columns" in proc.stdout
    assert "Best settings: learning_rate=" in proc.stdout
    meta = load_network(files / "tt" / "model.npz")[1]
    assert meta["columns"]["impute"] == "mean"
    out = scratchnn("predict", "--model", "tt/model.npz", "--input", "table_rows.csv", cwd=files)
    assert predictions(out.stdout) == in_process_labels(files / "tt" / "model.npz", files / "table_rows.csv")


# -- regression on diabetes -----------------------------------------------------------------


def assert_sensible_image(path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert 200 <= image.shape[0] <= 2000
    assert float(np.std(image[..., :3])) > 0.01


def r2_of(line: str) -> float:
    return float(line.split("R2 ")[1].split(",")[0])


@pytest.fixture(scope="module")
def diabetes_run(files):
    proc = scratchnn("train", "--data", "diabetes.csv", "--out", "d", *FAST, cwd=files)
    return files, proc


def test_train_reads_diabetes_as_regression_says_why_and_scores_against_the_training_mean(diabetes_run):
    cwd, proc = diabetes_run
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "diabetes.csv: 442 rows, 10 features, a numeric target -> 282 training, 71 validation, "
        "89 test rows held out for evaluate"
    )
    assert lines[1] == (
        "Task: regression, since 'y' holds 214 distinct numbers in 442 rows (--task classification to change)"
    )
    assert lines[-2].startswith("Test (held-out test rows): R2 ")
    assert lines[-2].endswith("(89 rows)")
    assert lines[-1].startswith("Predicting the training mean instead: R2 -0.0")
    assert r2_of(lines[-2]) > r2_of(lines[-1]) + 0.1  # the network learned something the mean does not know

    network, meta = load_network(cwd / "d" / "model.npz")
    assert meta["task"] == "regression"
    assert meta["training"]["loss"] == "mse"  # the default loss of a numeric target
    assert network.n_outputs == 1
    assert set(meta["target_scaler"]) >= {"mean", "scale"}
    history = json.loads((cwd / "d" / "history.json").read_text())
    assert {"loss", "val_loss", "val_r2"} <= set(history["epochs"][0])
    for name in ("predicted_vs_actual.png", "residuals.png", "learning_curves.png"):
        assert_sensible_image(cwd / "d" / name)


def test_evaluate_gives_the_same_scores_on_the_same_held_out_rows(diabetes_run):
    cwd, train = diabetes_run
    proc = scratchnn("evaluate", "--model", "d/model.npz", "--data", "diabetes.csv", cwd=cwd)
    assert "held-out test split of diabetes.csv: 89 of 442 rows" in proc.stdout
    model = next(line for line in proc.stdout.splitlines() if line.startswith("Model: "))
    assert model.split(": ", 1)[1] == train.stdout.splitlines()[-2].split(": ", 1)[1]
    assert "Predicting the training mean instead: R2 " in proc.stdout
    assert_sensible_image(cwd / "d" / "predicted_vs_actual_evaluate.png")
    assert_sensible_image(cwd / "d" / "residuals_evaluate.png")


def test_predict_writes_numbers_in_the_targets_units_bit_for_bit(diabetes_run):
    from scratchnn.data import TargetScaler

    cwd, _ = diabetes_run
    first = scratchnn("predict", "--model", "d/model.npz", "--input", "diabetes_rows.csv", cwd=cwd)
    second = scratchnn("predict", "--model", "d/model.npz", "--input", "diabetes_rows.csv", cwd=cwd)
    assert first.stdout.encode() == second.stdout.encode()
    written = np.array([float(v) for v in predictions(first.stdout)])
    assert len(written) == 25
    assert 50 < written.mean() < 300  # the target's units (25 to 346), not the standardised ones

    network, meta = load_network(cwd / "d" / "model.npz")
    x = sources.read_features(str(cwd / "diabetes_rows.csv"), meta["feature_names"], meta["target"]).x
    outputs = network.predict(Scaler.from_dict(meta["scaler"]).transform(x))
    expected = np.ravel(TargetScaler.from_dict(meta["target_scaler"]).inverse_transform(outputs))
    assert written.tobytes() == expected.astype(np.float64).tobytes()

    proc = scratchnn(
        "predict", "--model", "d/model.npz", "--input", "diabetes_rows.csv", "--proba", cwd=cwd, status=2
    )
    assert_one_line_error(proc, "--proba", "predicts a number")


def test_tune_on_regression_chooses_the_lowest_validation_loss(files):
    settings = ["--grid", "learning_rate=0.001,0.01", "--epochs", "3", "--final-epochs", "4", "--hidden", "8"]
    proc = scratchnn(
        "tune", "--data", "diabetes.csv", "--out", "dt", "--optimizer", "adam", *settings, cwd=files
    )
    assert "Task: regression, since 'y' holds 214 distinct numbers" in proc.stdout
    best = next(line for line in proc.stdout.splitlines() if line.startswith("Best settings: "))
    assert "the lowest validation loss" in best
    with open(files / "dt" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    lowest = min(rows, key=lambda r: float(r["val_loss"]))
    assert best.startswith(f"Best settings: learning_rate={lowest['learning_rate']} ")
    meta = load_network(files / "dt" / "model.npz")[1]
    assert meta["task"] == "regression"
    assert not (files / "dt" / "tuning_heatmap.png").exists()
    assert (files / "dt" / "predicted_vs_actual.png").exists()


def test_a_numeric_target_takes_the_regression_defaults_for_every_setting_not_typed(files):
    from scratchnn.recipe.config import REGRESSION_DEFAULTS, SETTINGS_BY_NAME

    # the classification defaults (SGD at 0.1, batch 16) diverge on diabetes; its own defaults train
    proc = scratchnn("train", "--data", "diabetes.csv", "--out", "dd", "--epochs", "10", "--quiet", cwd=files)
    assert "R2 " in proc.stdout
    training = load_network(files / "dd" / "model.npz")[1]["training"]
    for name, value in REGRESSION_DEFAULTS.items():
        if name != "epochs":
            assert training[name] == (list(value) if isinstance(value, tuple) else value), name
    assert training["epochs"] == 10
    # what is typed wins, the rest still comes from the regression defaults
    scratchnn("train", "--data", "diabetes.csv", "--out", "de", "--epochs", "2", "--lr", "0.01",
              "--optimizer", "momentum", "--quiet", cwd=files)  # fmt: skip
    training = load_network(files / "de" / "model.npz")[1]["training"]
    assert (training["learning_rate"], training["optimizer"]) == (0.01, "momentum")
    default_batch = SETTINGS_BY_NAME["batch_size"].default
    assert training["batch_size"] == REGRESSION_DEFAULTS["batch_size"] != default_batch
    # a class label keeps the classification defaults
    scratchnn("train", "--data", "table.csv", "--out", "dc", "--impute", "mean", "--epochs", "1", "--quiet",
              cwd=files)  # fmt: skip
    training = load_network(files / "dc" / "model.npz")[1]["training"]
    default_lr = SETTINGS_BY_NAME["learning_rate"].default
    assert (training["optimizer"], training["learning_rate"]) == ("sgd", default_lr)
    proc = scratchnn("train", "--data", "diabetes.csv", "--out", "df", "--loss", "cross-entropy", cwd=files,
                     status=2)  # fmt: skip
    assert_one_line_error(proc, "--loss cross-entropy is for classes")
    assert not (files / "df").exists()


def test_loss_poisson_is_a_one_line_error_naming_the_estimator_that_takes_it(files):
    # the command line standardises a numeric target, which poisson's log link cannot take
    proc = scratchnn(
        "train", "--data", "diabetes.csv", "--out", "dp", "--loss", "poisson", cwd=files, status=2
    )
    assert_one_line_error(
        proc,
        "--loss poisson needs the raw target",
        "ScratchNNRegressor",
        "a numeric target takes mse, mae, huber",
    )
    assert not (files / "dp").exists()


@pytest.mark.parametrize(("loss", "fits"), [("poisson", "regression"), ("bce", "multilabel")])
def test_a_loss_for_other_targets_on_classes_is_a_one_line_error(files, loss, fits):
    proc = scratchnn("train", "--data", "iris", "--out", "dl", "--loss", loss, cwd=files, status=2)
    assert_one_line_error(
        proc, f"--loss {loss} fits {fits} targets; classification takes cross-entropy, mse, mae, huber"
    )
    assert not (files / "dl").exists()


def test_task_regression_on_text_labels_is_a_one_line_error(files):
    proc = scratchnn("train", "--data", "table.csv", "--out", "x", "--impute", "mean", "--task", "regression",
                     cwd=files, status=2)  # fmt: skip
    assert_one_line_error(proc, "--task regression needs numbers", "column 'label'", "on line 2")


def test_a_handful_of_whole_numbers_are_classes_and_the_choice_is_said(files):
    write_csv(files / "codes.csv", ["a", "b", "y"], [[str(i), str(i % 5), str(i % 2)] for i in range(20)])
    proc = scratchnn("train", "--data", "codes.csv", "--out", "codes", "--epochs", "1", cwd=files)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("codes.csv: 20 rows, 2 features, 2 classes -> ")
    assert (
        lines[1]
        == "Task: classification, since 'y' holds 2 distinct whole numbers (--task regression to change)"
    )
    # a bundled data set of classes (digits: 0 to 9) says so itself: nothing to choose, nothing said
    proc = scratchnn("train", "--data", "digits", "--out", "digits", "--epochs", "1", cwd=files)
    assert proc.stdout.splitlines()[1].startswith("Epoch 1/1 | ")
    assert "Task:" not in proc.stdout


def test_a_numeric_target_with_a_text_column_and_empty_cells_predicts_bit_for_bit(files):
    from scratchnn.data import TargetScaler

    rng = np.random.default_rng(1)
    effect = {"red": 10.0, "green": 0.0, "blue": -10.0}
    rows = []
    for i in range(150):
        colour, size = COLOURS[i % 3], rng.uniform(1, 10)
        price = 3 * size + effect[colour] + rng.normal(0, 0.5)
        rows.append(["" if i % 11 == 3 else f"{size:.2f}", "" if i % 19 == 5 else colour, f"{price:.3f}"])
    write_csv(files / "prices.csv", ["size", "colour", "price"], rows)
    proc = scratchnn(
        "train", "--data", "prices.csv", "--out", "p", "--impute", "most-frequent", *FAST, cwd=files
    )
    assert "Task: regression, since 'price' holds " in proc.stdout
    assert "column 'colour': text, one-hot encoded into 3 columns (blue, green, red)" in proc.stdout

    query = files / "prices_rows.csv"
    write_csv(query, ["colour", "size"], [["red", "5"], ["blue", ""], ["", "2.5"]])
    first = scratchnn("predict", "--model", "p/model.npz", "--input", query.name, cwd=files)
    second = scratchnn("predict", "--model", "p/model.npz", "--input", query.name, cwd=files)
    assert first.stdout.encode() == second.stdout.encode()

    network, meta = load_network(files / "p" / "model.npz")
    plan = ColumnPlan.from_dict(meta["columns"])
    table = sources.read_features(
        str(query), meta["feature_names"], meta["target"], text=plan.text_columns, allow_missing=True
    )
    outputs = network.predict(Scaler.from_dict(meta["scaler"]).transform(plan.transform(table)))
    expected = np.ravel(TargetScaler.from_dict(meta["target_scaler"]).inverse_transform(outputs))
    assert [float(v) for v in predictions(first.stdout)] == expected.tolist()
