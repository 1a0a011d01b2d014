"""Scores are computed in one place (``scratchnn.metrics``), and what a task means lives on the loss.

Each score is checked against scikit-learn's; each loss turns outputs into
predictions and scores them as its task says; and no module outside the task
table compares a task name by hand.
"""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest
from sklearn import metrics as sk

from scratchnn.losses import TASKS, BCEWithLogitsLoss, MeanSquaredError, SoftmaxCrossEntropy
from scratchnn.metrics import accuracy, mean_absolute_error, r2_score, root_mean_squared_error

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "scratchnn"


def test_each_score_equals_scikit_learns():
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    assert r2_score(y, p) == pytest.approx(sk.r2_score(y, p), abs=1e-12)
    assert r2_score(y[:, 0], p[:, 0]) == pytest.approx(sk.r2_score(y[:, 0], p[:, 0]), abs=1e-12)
    assert mean_absolute_error(y, p) == pytest.approx(sk.mean_absolute_error(y, p), abs=1e-12)
    assert root_mean_squared_error(y, p) == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)), abs=1e-12)
    labels, guesses = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    assert accuracy(labels, guesses) == sk.accuracy_score(labels, guesses)
    columns, guessed = rng.integers(0, 2, (60, 3)), rng.integers(0, 2, (60, 3))
    assert accuracy(columns, guessed) == sk.accuracy_score(columns, guessed)  # subset accuracy


def test_r2_of_a_constant_target_is_one_if_predicted_exactly_else_zero_as_scikit_learns():
    y = np.full(5, 2.0)
    assert r2_score(y, y) == sk.r2_score(y, y) == 1.0
    assert r2_score(y, y + 1) == sk.r2_score(y, y + 1) == 0.0


def test_each_loss_predicts_and_scores_as_its_task_says():
    outputs = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, -0.1]])
    ce = SoftmaxCrossEntropy()
    np.testing.assert_array_equal(ce.predict(outputs), [0, 1])
    assert (ce.metric, ce.score(outputs, np.array([0, 2]))) == ("accuracy", 0.5)
    bce = BCEWithLogitsLoss()
    np.testing.assert_array_equal(bce.predict(outputs), [[1, 0, 1], [0, 1, 0]])
    assert bce.score(outputs, np.array([[1.0, 0, 1], [0, 1, 1]])) == 0.5  # the second row misses a column
    mse = MeanSquaredError()
    assert mse.predict(outputs) is outputs
    assert (mse.metric, mse.score(outputs, outputs)) == ("r2", 1.0)
    assert MeanSquaredError(task="classification").metric == "accuracy"


def test_the_task_table_checks_targets_and_reads_the_output_width():
    labels = TASKS["classification"].check_targets(
        np.array([0, 2, 1]), "y", n_samples=3, n_outputs=None, x_name="x", dtype=np.float32
    )
    assert TASKS["classification"].n_outputs(labels) == 3
    numbers = TASKS["regression"].check_targets(
        np.array([0.5, 2.0, 1.0]), "y", n_samples=3, n_outputs=None, x_name="x", dtype=np.float32
    )
    assert TASKS["regression"].n_outputs(numbers) == 1
    with pytest.raises(ValueError, match="y must be a 2-D array of 0/1 columns"):
        TASKS["multilabel"].check_targets(np.array([0, 1]), "y", n_samples=2, n_outputs=None, x_name="x",
                                          dtype=np.float32)  # fmt: skip
    assert TASKS["regression"].task_for(np.array([0, 1, 2])) == "classification"  # the seed's one-hot MSE
    assert TASKS["regression"].task_for(np.array([0.5, 1.0])) == "regression"


def _task_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something to a task's name (``task == "regression"``, ``x.task != ...``)."""
    names = set(TASKS)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Constant) and s.value in names for s in sides):
                lines.append(node.lineno)
    return lines


def test_no_module_compares_task_names_outside_the_task_table():
    # losses.py holds the table (TASKS); data/targets reads the --task option, whose values are the names
    allowed = {"losses.py", "tasks.py", "targets.py"}
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name not in allowed:
            lines = _task_comparisons(ast.parse(path.read_text(encoding="utf-8")))
            if lines:
                found[str(path.relative_to(PACKAGE))] = lines
    assert found == {}
