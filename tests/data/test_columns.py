"""Text columns and empty cells (``scratchnn.data.columns``), read from CSV files by ``data.sources``.

The plan learns categories and fill values from the training rows only, is
plain JSON, and names the line, the column and the value of every cell it
cannot use.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn.data import sources
from scratchnn.data.columns import ColumnPlan


def write(path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


TABLE = [
    "size,colour,weight,label",
    "1.5,red,10,a",
    "2.5,blue,,b",
    "3.5,red,30,a",
    "4.5,green,40,b",
    ",blue,50,a",
    "6.5,,60,b",
]


def test_a_column_without_numbers_is_text_and_becomes_one_column_per_training_category(tmp_path):
    ds = sources.load_source(write(tmp_path / "t.csv", TABLE), allow_missing=True)
    assert list(ds.text) == ["colour"]
    assert ds.text["colour"].tolist() == ["red", "blue", "red", "green", "blue", ""]
    assert ds.missing == {"size": [(4, 6)], "colour": [(5, 7)], "weight": [(1, 3)]}
    assert ds.lines.tolist() == [2, 3, 4, 5, 6, 7]

    train = np.array([0, 1, 2, 4])  # green (row 3) is only in a held-out row
    plan = ColumnPlan.fit(ds, train, impute="mean")
    assert plan.feature_names == ["size", "colour=blue", "colour=red", "weight"]
    x = plan.transform(ds, rows=[3, 5])
    size_mean = np.mean([1.5, 2.5, 3.5])  # the training rows' values; row 4's empty cell is not one
    weight_mean = np.mean([10, 30, 50])
    expected = [
        [1.5, 0, 1, 10],
        [2.5, 1, 0, weight_mean],
        [3.5, 0, 1, 30],
        [4.5, 0, 0, 40],  # green: a category the training rows lack, no category
        [size_mean, 1, 0, 50],
        [6.5, 1, 0, 60],  # the empty colour takes the training rows' most frequent category, blue
    ]
    np.testing.assert_array_equal(x, expected)
    assert plan.columns[1]["fill"] == "blue"  # blue and red tie twice each: the first in sorted order


def test_the_plan_is_plain_json_and_transforms_bit_for_bit_after_a_round_trip(tmp_path):
    ds = sources.load_source(write(tmp_path / "t.csv", TABLE), allow_missing=True)
    plan = ColumnPlan.fit(ds, np.arange(6), impute="median")
    text = json.dumps(plan.to_dict(), allow_nan=False)
    again = ColumnPlan.from_dict(json.loads(text))
    np.testing.assert_array_equal(again.transform(ds), plan.transform(ds))
    assert again.transform(ds).tobytes() == plan.transform(ds).tobytes()
    assert again.columns[0]["fill"] == np.median([1.5, 2.5, 3.5, 4.5, 6.5])


@pytest.mark.parametrize(("strategy", "expected"), [("mean", 3.0), ("median", 2.5), ("most-frequent", 1.0)])
def test_each_imputation_strategy_fills_with_the_training_rows_statistic(tmp_path, strategy, expected):
    path = write(tmp_path / "m.csv", ["v,label", "1,a", "6,b", "1,a", ",b", "4,a", "100,b"])
    ds = sources.load_source(path, allow_missing=True)
    plan = ColumnPlan.fit(ds, np.arange(5), impute=strategy)  # 100 is in a held-out row
    assert plan.columns[0]["fill"] == pytest.approx(expected, rel=1e-15)
    assert plan.transform(ds)[3, 0] == plan.columns[0]["fill"]


def test_an_unseen_category_names_the_line_column_and_value_unless_ignored(tmp_path):
    ds = sources.load_source(write(tmp_path / "t.csv", TABLE[:2] + TABLE[3:5]))
    plan = ColumnPlan.fit(ds, np.arange(3))
    rows = sources.read_features(
        write(tmp_path / "new.csv", ["size,colour,weight", "1,red,2", "3,purple,4"]),
        plan.input_names,
        text=plan.text_columns,
    )
    with pytest.raises(ValueError, match="a category the training rows never had") as info:
        plan.transform(rows)
    message = str(info.value)
    for fragment in ("new.csv", "column 'colour'", "line 3", "'purple'", "--unknown-categories ignore"):
        assert fragment in message
    x = plan.transform(rows, unknown="ignore")
    assert plan.feature_names == ["size", "colour=green", "colour=red", "weight"]
    np.testing.assert_array_equal(x, [[1, 0, 1, 2], [3, 0, 0, 4]])


def test_an_empty_cell_without_imputation_names_its_line_and_column(tmp_path):
    path = write(tmp_path / "t.csv", TABLE)
    with pytest.raises(
        ValueError, match="missing value \\(an empty cell\\) in column 'weight' on line 3; pass --impute"
    ):
        sources.load_source(path)
    ds = sources.load_source(write(tmp_path / "ok.csv", TABLE[:3] + TABLE[3:5]), allow_missing=True)
    plan = ColumnPlan.fit(ds, np.arange(ds.n_rows))  # fitted without --impute: no fill values
    with pytest.raises(
        ValueError, match="missing value in column 'weight' on line 3, and the model was trained"
    ):
        plan.transform(ds)


def test_a_few_words_in_a_column_of_numbers_are_a_typo_named_with_a_categorical_hint(tmp_path):
    lines = ["a,b,label"] + [f"{i},{i * 2},x" for i in range(10)]
    lines[7] = "6,twelve,x"
    path = write(tmp_path / "typo.csv", lines)
    with pytest.raises(ValueError, match="not a number") as info:
        sources.load_source(path)
    message = str(info.value)
    for fragment in ("column 'b' on line 8 holds 'twelve', which is not a number", "--categorical b"):
        assert fragment in message
    ds = sources.load_source(path, text=["b"])  # declared categorical: every cell is a category
    assert ds.text["b"].tolist()[5:7] == ["10", "twelve"]


def test_a_few_numbers_in_a_column_of_words_point_at_the_first_number(tmp_path):
    lines = ["city,label", "Oslo,x", "Lima,y", "42,x", "Rome,y", "Pune,x"]
    with pytest.raises(
        ValueError, match="column 'city' holds text in 4 rows but numbers in 1, the first on line 4"
    ):
        sources.load_source(write(tmp_path / "c.csv", lines))


def test_text_found_in_a_later_block_and_text_columns_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_BLOCK_CELLS", 6)  # two rows of three cells per block
    colours = ["red", "blue", "green"]
    lines = ["a,colour,b,label"] + [f"{i},{colours[i % 3]},{i / 4},k{i % 2}" for i in range(11)]
    ds = sources.load_source(write(tmp_path / "wide.csv", lines))
    assert ds.text["colour"].tolist() == [colours[i % 3] for i in range(11)]
    np.testing.assert_array_equal(ds.x[:, 0], np.arange(11))
    np.testing.assert_array_equal(ds.x[:, 2], np.arange(11) / 4)
    assert np.isnan(ds.x[:, 1]).all()

    late = ["a,b,label"] + [f"{i},{i},k" for i in range(9)] + ["9,nine,k"]  # the word is in the last block
    with pytest.raises(ValueError, match="column 'b' on line 11 holds 'nine'"):
        sources.load_source(write(tmp_path / "late.csv", late))


def test_describe_says_what_was_done_to_each_changed_column_and_counts_the_rest(tmp_path):
    ds = sources.load_source(write(tmp_path / "t.csv", TABLE), allow_missing=True)
    plan = ColumnPlan.fit(ds, np.array([0, 1, 2, 4]), impute="median")
    lines = plan.describe(ds, np.array([0, 1, 2, 4]))
    assert lines[0] == "column 'size': numbers; 1 empty cell filled with the training median 2.5"
    assert lines[1].startswith(
        "column 'colour': text, one-hot encoded into 2 columns (blue, red); 1 empty cell"
    )
    assert lines[2] == "column 'weight': numbers; 1 empty cell filled with the training median 30.0"
    assert lines[3] == (
        "column 'colour': 1 held-out row hold a category the training rows lack, encoded as no category"
    )


def test_a_column_empty_in_every_training_row_cannot_be_imputed(tmp_path):
    ds = sources.load_source(
        write(tmp_path / "e.csv", ["a,b,label", "1,,x", "2,,y", "3,4,x"]), allow_missing=True
    )
    with pytest.raises(ValueError, match="column 'b' is empty in all 2 training rows"):
        ColumnPlan.fit(ds, np.array([0, 1]), impute="mean")


def test_a_malformed_plan_in_a_model_file_is_refused():
    with pytest.raises(ValueError, match="column plan"):
        ColumnPlan.from_dict({"columns": [{"name": "a", "kind": "words"}]})
    with pytest.raises(ValueError, match="column plan"):
        ColumnPlan.from_dict({"impute": None})
