"""Data sources of the command-line tool: built-in sets, CSV and .npz files, labels, splits, the scaler."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import data, sources, tasks


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name", "rows", "features", "classes"),
    [("digits", 1797, 64, 10), ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2)],
)
def test_builtin_sources_load_raw_features_and_named_labels(name, rows, features, classes):
    ds = sources.load_source(name)
    assert ds.x.shape == (rows, features)
    assert ds.x.dtype == np.float64
    assert len(ds.feature_names) == features
    assert len(set(ds.labels.tolist())) == classes
    assert ds.image_shape == ((8, 8) if name == "digits" else None)


def test_iris_labels_are_the_species_names():
    ds = sources.load_source("iris")
    y, names = data.encode_labels(ds.labels)
    assert names == ["setosa", "versicolor", "virginica"]
    assert y.dtype == np.int64
    assert set(y.tolist()) == {0, 1, 2}


def test_csv_with_string_labels_in_a_named_target_column(tmp_path):
    path = write(tmp_path / "f.csv", "colour,w,h\nred,1,2\nblue,3,4\n\nred,5,6\n")
    ds = sources.load_source(path, target="colour")
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
    assert ds.feature_names == ["w", "h"]
    assert ds.target == "colour"
    y, names = data.encode_labels(ds.labels)
    assert names == ["blue", "red"]
    assert y.tolist() == [1, 0, 1]


def test_csv_target_defaults_to_the_last_column(tmp_path):
    path = write(tmp_path / "f.csv", "a,b,label\n1,2,10\n3,4,2\n")
    ds = sources.load_source(path)
    assert (ds.target, ds.feature_names) == ("label", ["a", "b"])
    # numeric labels sort as numbers: 2 before 10
    assert data.encode_labels(ds.labels)[1] == ["2", "10"]


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("a,b,y\n1,2,x\n3,4\n", None, "line 3 has 2 cells, but the header has 3 columns"),
        ("a,b,y\n1,2,x\n3,zz,y\n", None, "column 'b' on line 3 holds 'zz', which is not a number"),
        ("a,b,y\n1,2,x\n3,,y\n", None, "missing value (an empty cell) in column 'b' on line 3"),
        ("a,b,y\n1,2,x\nNA,1,y\n", None, "missing value ('NA') in column 'a' on line 3"),
        ("a,b,y\n1,inf,x\n", None, "column 'b' on line 2 holds 'inf', which is not finite"),
        ("a,b,y\n1,2,x\n3,4,\n", None, "missing label in column 'y' on line 3"),
        ("a,b,y\n1,2,x\n", "label", "--target 'label' is not a column"),
        ("", None, "is empty: expected a header row"),
        ("a,b,y\n", None, "has a header but no data rows"),
        ("a,a,y\n1,2,x\n", None, "names column 'a' twice"),
        ("y\nx\n", None, "needs at least one feature column"),
    ],
)
def test_csv_errors_name_the_line_and_column(tmp_path, text, target, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=r"bad\.csv") as info:
        sources.load_source(path, target=target)
    assert message in str(info.value)


def test_missing_file_and_unknown_source_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.csv"):
        sources.load_source(str(tmp_path / "nothere.csv"))
    with pytest.raises(ValueError, match="digits, iris, wine, breast_cancer"):
        sources.load_source("mnist")
    with pytest.raises(ValueError, match="--target applies to CSV files only"):
        sources.load_source("iris", target="species")


def test_npz_source_with_string_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(12.0).reshape(6, 2), y=np.array(["cat", "dog"] * 3))
    ds = sources.load_source(str(path))
    assert (ds.x.shape, ds.feature_names) == ((6, 2), ["x0", "x1"])
    assert data.encode_labels(ds.labels)[1] == ["cat", "dog"]


def test_npz_source_refuses_pickles_and_missing_arrays(tmp_path):
    pickled = tmp_path / "p.npz"
    np.savez(pickled, X=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="pickled objects"):
        sources.load_source(str(pickled))
    partial = tmp_path / "q.npz"
    np.savez(partial, X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="holding arrays 'X' and 'y'"):
        sources.load_source(str(partial))


def test_read_features_picks_columns_by_name_and_ignores_the_label_column(tmp_path):
    path = write(tmp_path / "rows.csv", "h,label,w\n2,red,1\n4,blue,3\n")
    x = sources.read_features(path, ["w", "h"], target="label").x
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="lacks the feature column 'w'"):
        sources.read_features(write(tmp_path / "a.csv", "h\n1\n"), ["w", "h"], target="label")
    with pytest.raises(ValueError, match="has column 'z'"):
        sources.read_features(write(tmp_path / "b.csv", "w,h,z\n1,2,3\n"), ["w", "h"], target="label")


def test_diabetes_is_a_builtin_source_with_a_numeric_target():
    from sklearn.datasets import load_diabetes

    ds = sources.load_source("diabetes")
    expected = load_diabetes()
    assert ds.x.shape == (442, 10)
    assert ds.feature_names == list(expected.feature_names)
    np.testing.assert_array_equal(np.asarray(ds.labels, dtype=np.float64), expected.target)
    assert tasks.choose_task(ds.labels)[0] == "regression"


def test_npz_float_targets_are_read_exactly_for_regression(tmp_path):
    y = np.array([0.1, 1.0 / 3, 2.5e-300, 7.0])
    np.savez(tmp_path / "r.npz", X=np.ones((4, 2)), y=y)
    ds = sources.load_source(str(tmp_path / "r.npz"))
    assert np.asarray(ds.labels, dtype=np.float64).tobytes() == y.tobytes()
    np.savez(tmp_path / "c.npz", X=np.ones((4, 2)), y=np.array([0.0, 1.0, 1.0, 0.0]))
    assert data.encode_labels(sources.load_source(str(tmp_path / "c.npz")).labels)[1] == ["0", "1"]
    np.savez(tmp_path / "b.npz", X=np.ones((2, 2)), y=np.array([True, False]))
    with pytest.raises(ValueError, match="y must hold integers, numbers or strings, got dtype bool"):
        sources.load_source(str(tmp_path / "b.npz"))


def test_categorical_names_a_real_feature_column_of_a_csv_file(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,y\n1,2,x\n3,4,y\n")
    with pytest.raises(ValueError, match="--categorical 'c' is not a feature column of"):
        sources.load_source(path, text=["c"])
    with pytest.raises(ValueError, match="--categorical applies to CSV files only"):
        sources.load_source("iris", text=["a"])
