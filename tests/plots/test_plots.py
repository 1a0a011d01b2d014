"""Every plot is a real PNG image of a sensible size, drawn without a display."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """The image as an array (height, width, channels), after checking the file is a PNG."""
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    return matplotlib.image.imread(path)


def assert_sensible_image(path, min_side: int = 200, max_side: int = 2000):
    image = read_png(path)
    height, width = image.shape[:2]
    assert min_side <= height <= max_side, image.shape
    assert min_side <= width <= max_side, image.shape
    # not a blank canvas: something was drawn
    assert float(np.std(image[..., :3])) > 0.01


def history(n=6, val=True):
    records = []
    for e in range(1, n + 1):
        r = {"epoch": e, "loss": 1.0 / e, "lr": 0.1}
        if val:
            r.update(val_loss=1.2 / e, val_accuracy=0.5 + 0.05 * e)
        records.append(r)
    return records


@pytest.mark.parametrize("val", [True, False])
def test_learning_curves_png(tmp_path, val):
    path = tmp_path / "curves.png"
    plots.learning_curves(history(val=val), path)
    assert_sensible_image(path)


def test_confusion_matrix_png(tmp_path):
    path = tmp_path / "cm.png"
    plots.confusion_matrix(np.array([[5, 1, 0], [0, 6, 0], [1, 0, 4]]), ["setosa", "versicolor", "x"], path)
    assert_sensible_image(path)


def test_tuning_heatmap_png_with_a_diverged_cell(tmp_path):
    rows = []
    for lr in (0.01, 0.1, 50.0):
        for units in (8, (16, 8)):
            for bs in (8, 16):
                ok = lr < 10
                rows.append(
                    {
                        "learning_rate": lr,
                        "hidden_units": units,
                        "batch_size": bs,
                        "val_accuracy": (0.5 + lr + bs / 100) if ok else None,
                        "status": "ok" if ok else "diverged",
                    }
                )
    path = tmp_path / "heat.png"
    plots.tuning_heatmap(rows, path)
    assert_sensible_image(path)


def test_tuning_heatmap_fills_missing_dimensions_from_the_defaults(tmp_path):
    rows = [{"learning_rate": lr, "val_accuracy": 0.9, "status": "ok"} for lr in (0.1, 0.2)]
    path = tmp_path / "heat.png"
    plots.tuning_heatmap(rows, path, defaults={"hidden_units": [32], "batch_size": 16})
    assert_sensible_image(path)


def test_misclassified_grid_and_first_layer_weights_png(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 16, size=(20, 64))
    true = rng.integers(0, 3, size=20)
    pred = true.copy()
    pred[:7] = (pred[:7] + 1) % 3
    path = tmp_path / "wrong.png"
    assert plots.misclassified_grid(images, true, pred, ["a", "b", "c"], (8, 8), path) == 7
    assert_sensible_image(path)
    path = tmp_path / "weights.png"
    plots.first_layer_weights(rng.standard_normal((64, 12)), (8, 8), path)
    assert_sensible_image(path)


def test_misclassified_grid_without_mistakes_still_writes_an_image(tmp_path):
    path = tmp_path / "none.png"
    labels = np.array([0, 1])
    assert plots.misclassified_grid(np.ones((2, 16)), labels, labels, ["a", "b"], (4, 4), path) == 0
    assert read_png(path).shape[0] > 50


def stars(fig):
    """``(axes title, x, y)`` of every star marker drawn on the figure."""
    return [
        (ax.get_title(), list(line.get_xdata()), list(line.get_ydata()))
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() == "*"
    ]


def test_learning_curve_star_marks_the_lowest_validation_loss_not_the_best_accuracy(tmp_path):
    # epoch 3 has the lowest validation loss (what early stopping and Ctrl-C keep); epoch 4 the best accuracy
    val_loss = [0.5, 0.3, 0.25, 0.27, 0.3, 0.33]
    val_acc = [0.8, 0.85, 0.86, 0.9, 0.88, 0.87]
    records = [
        {"epoch": e, "loss": 1 / e, "val_loss": val_loss[e - 1], "val_accuracy": val_acc[e - 1]}
        for e in range(1, 7)
    ]
    fig = plots.learning_curves(records, tmp_path / "curves.png")
    assert stars(fig) == [("Loss", [3], [0.25]), ("Validation accuracy", [3], [0.86])]
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert "saved: epoch 3 (lowest validation loss)" in labels
    assert_sensible_image(tmp_path / "curves.png")
    # without early stopping the saved weights are the last epoch's, and the star says so
    fig = plots.learning_curves(records, tmp_path / "last.png", kept_epoch=6)
    assert stars(fig) == [("Loss", [6], [0.33]), ("Validation accuracy", [6], [0.87])]
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert "saved: epoch 6 (the last epoch)" in labels
    with pytest.raises(ValueError, match="kept_epoch must be one of the history's epochs, got 9"):
        plots.learning_curves(records, tmp_path / "bad.png", kept_epoch=9)


def test_first_layer_weights_have_a_colour_scale_in_weight_units(tmp_path):
    weights = np.random.default_rng(3).standard_normal((16, 5))
    weights[0, 2] = -4.0  # the largest |weight| sets the symmetric scale
    fig = plots.first_layer_weights(weights, (4, 4), tmp_path / "w.png")
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "weight"]
    assert len(bars) == 1, "no colour bar labelled 'weight'"
    assert bars[0].get_ylim() == pytest.approx((-4.0, 4.0))
    assert_sensible_image(tmp_path / "w.png")
