"""A table's columns as numbers for the network: text columns one-hot encoded, empty cells imputed.

``ColumnPlan.fit`` learns from the training rows only, as scikit-learn's
transformers do:

* for each text column (``Dataset.text``), its categories, sorted (the
  ``categories_`` of scikit-learn's ``OneHotEncoder``); a text column with K
  categories becomes K columns of 0/1, named ``column=category``;
* with ``impute``, each column's fill value for empty cells (the
  ``statistics_`` of scikit-learn's ``SimpleImputer``): the training mean,
  median or most frequent value of a numeric column, and always the most
  frequent category of a text column (a mean of words has no meaning).

``transform`` applies the plan to any rows (the held-out splits, a file to
predict): features ``(N, F_out)`` float64. A category the plan never saw is
an error naming the row, the column and the value, unless ``unknown="ignore"``
encodes it as no category (all zeros, as ``OneHotEncoder(handle_unknown=
"ignore")``). The plan is stored in the model file as plain JSON
(``to_dict``/``from_dict``): names, category lists and fill values, no
pickles, floats that round-trip exactly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IMPUTE", "UNKNOWN", "ColumnPlan"]

#: ``--impute`` strategies, by the name the command line takes -> scikit-learn's ``SimpleImputer`` name.
IMPUTE = {"mean": "mean", "median": "median", "most-frequent": "most_frequent"}

#: What ``transform`` does with a category that the training rows never had.
UNKNOWN = ("error", "ignore")


def _check_column(c: dict) -> None:
    """Refuse a column entry that ``fit`` would never write, naming the column and the value."""
    name, fill = c["name"], c.get("fill")
    if c["kind"] == "category":
        categories = c.get("categories")
        if not isinstance(categories, list) or not all(isinstance(v, str) for v in categories):
            raise ValueError(f"the model's column plan lists no categories (text) for {name!r}")
        if fill is not None and fill not in categories:
            raise ValueError(
                f"the model's column plan fills {name!r} with {fill!r}, not one of its categories"
            )
    elif fill is not None and (
        isinstance(fill, bool) or not isinstance(fill, (int, float)) or not np.isfinite(fill)
    ):
        raise ValueError(
            f"the model's column plan fills the numeric column {name!r} with {fill!r}, not a number"
        )


class ColumnPlan:
    """What to do to each input column, learned by ``fit``; applied by ``transform``.

    ``columns``: one dict per input column, in the table's order:
    ``{"name", "kind": "number" | "category", "fill": value or None,
    "categories": [...] (category columns only)}``; ``impute``: the strategy
    (a key of ``IMPUTE``) or None.
    """

    def __init__(self, columns: list[dict], impute: str | None = None) -> None:
        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"impute must be one of {list(IMPUTE)} or None, got {impute!r}")
        for c in columns:
            if c.get("kind") not in ("number", "category") or not isinstance(c.get("name"), str):
                raise ValueError(f"the model's column plan is malformed at {c!r}")
            _check_column(c)
        self.columns = columns
        self.impute = impute

    # -- learning ---------------------------------------------------------------

    @classmethod
    def fit(cls, ds, rows: np.ndarray, impute: str | None = None) -> ColumnPlan:
        """Learn the categories and fill values of ``ds`` (a ``sources.Dataset``) from the rows ``rows``."""
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder

        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"--impute must be one of {', '.join(IMPUTE)}, got {impute!r}")
        rows = np.asarray(rows)
        columns = []
        for j, name in enumerate(ds.feature_names):
            if name in ds.text:
                cells = ds.text[name][rows]
                present = cells[cells != ""].reshape(-1, 1)
                if len(present) == 0:
                    raise ValueError(f"text column {name!r} has no values in the {len(rows)} training rows")
                encoder = OneHotEncoder(handle_unknown="error").fit(present)
                column = {"name": name, "kind": "category", "categories": encoder.categories_[0].tolist()}
                fill = None
                if impute is not None:  # a text column always takes its most frequent category
                    imputer = SimpleImputer(strategy="most_frequent", missing_values="")
                    fill = str(imputer.fit(cells.reshape(-1, 1)).statistics_[0])
            else:
                column = {"name": name, "kind": "number"}
                fill = None
                if impute is not None:
                    values = ds.x[rows, j]
                    if np.isnan(values).all():
                        raise ValueError(
                            f"column {name!r} is empty in all {len(rows)} training rows: nothing to impute"
                        )
                    imputer = SimpleImputer(strategy=IMPUTE[impute]).fit(values.reshape(-1, 1))
                    fill = float(imputer.statistics_[0])
            column["fill"] = fill
            columns.append(column)
        return cls(columns, impute)

    # -- applying ---------------------------------------------------------------------

    @property
    def text_columns(self) -> list[str]:
        """The input columns read as text (for ``sources.read_features(text=...)``)."""
        return [c["name"] for c in self.columns if c["kind"] == "category"]

    @property
    def feature_names(self) -> list[str]:
        """The names of the output columns: a number keeps its name, a category is ``column=category``."""
        names = []
        for c in self.columns:
            if c["kind"] == "number":
                names.append(c["name"])
            else:
                names.extend(f"{c['name']}={v}" for v in c["categories"])
        return names

    @property
    def n_outputs(self) -> int:
        return len(self.feature_names)

    def transform(self, ds, unknown: str = "error", rows=None) -> np.ndarray:
        """The features of ``ds`` as float64 ``(N, n_outputs)``: categories one-hot, empty cells filled.

        ``rows`` (indices) whose unseen categories are encoded as none even when
        ``unknown="error"``: the held-out rows at training time, which may hold
        a category that the training rows lack.
        """
        if unknown not in UNKNOWN:
            raise ValueError(f"--unknown-categories must be one of {', '.join(UNKNOWN)}, got {unknown!r}")
        if list(ds.feature_names) != [c["name"] for c in self.columns]:
            raise ValueError(
                f"{ds.name}: the columns {ds.feature_names[:5]} are not the model's {self.input_names[:5]}"
            )
        tolerated = np.zeros(ds.n_rows, dtype=bool)
        if rows is not None:
            tolerated[np.asarray(rows, dtype=np.int64)] = True
        parts = []
        for j, c in enumerate(self.columns):
            if c["kind"] == "number":
                parts.append(self._numbers(ds, j, c))
            else:
                parts.append(self._one_hot(ds, c, unknown, tolerated))
        return np.concatenate(parts, axis=1) if parts else np.empty((ds.n_rows, 0))

    @property
    def input_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def _numbers(self, ds, j: int, c: dict) -> np.ndarray:
        values = ds.x[:, j : j + 1]
        empty = np.isnan(values[:, 0])
        if empty.any():
            if c["fill"] is None:
                row = int(np.flatnonzero(empty)[0])
                raise ValueError(
                    f"{ds.name}: missing value in column {c['name']!r} on {ds.where(row)}, and the model "
                    "was trained without --impute"
                )
            values = np.where(empty[:, None], c["fill"], values)
        return values

    def _one_hot(self, ds, c: dict, unknown: str, tolerated: np.ndarray) -> np.ndarray:
        cells = ds.text[c["name"]]
        if c["fill"] is not None:
            cells = np.where(cells == "", c["fill"], cells)
        index = {v: i for i, v in enumerate(c["categories"])}
        codes = np.fromiter((index.get(v, -1) for v in cells), dtype=np.int64, count=len(cells))
        bad = codes < 0
        if bad.any():
            empty = bad & (cells == "")
            if empty.any():
                row = int(np.flatnonzero(empty)[0])
                raise ValueError(
                    f"{ds.name}: missing value in column {c['name']!r} on {ds.where(row)}, and the model "
                    "was trained without --impute"
                )
            refused = bad & ~tolerated
            if unknown == "error" and refused.any():
                row = int(np.flatnonzero(refused)[0])
                shown = ", ".join(c["categories"][:10]) + (" ..." if len(c["categories"]) > 10 else "")
                raise ValueError(
                    f"{ds.name}: column {c['name']!r} on {ds.where(row)} holds {cells[row]!r}, a category "
                    f"the training rows never had (they had: {shown}); pass --unknown-categories ignore "
                    "to encode such a value as no category"
                )
        out = np.zeros((len(cells), len(c["categories"])))
        known = np.flatnonzero(~bad)
        out[known, codes[known]] = 1.0
        return out

    def unseen(self, ds, rows) -> dict[str, int]:
        """How many of the rows ``rows`` hold a category the plan never saw, per text column."""
        counts = {}
        for c in self.columns:
            if c["kind"] == "category":
                cells = ds.text[c["name"]][np.asarray(rows, dtype=np.int64)]
                known = set(c["categories"]) | {""}
                n = sum(v not in known for v in cells)
                if n:
                    counts[c["name"]] = n
        return counts

    # -- saying what was done ---------------------------------------------------------

    def describe(self, ds, rows) -> list[str]:
        """One line per column the plan changes, and one line for the plain numeric ones."""
        lines = []
        plain = 0
        rows = np.asarray(rows, dtype=np.int64)
        for c in self.columns:
            n_empty = len(ds.missing.get(c["name"], ()))
            filled = ""
            if n_empty:
                what = "most frequent category" if c["kind"] == "category" else f"training {self.impute}"
                filled = (
                    f"{n_empty} empty cell{'s' if n_empty > 1 else ''} filled with the {what} {c['fill']!r}"
                )
            if c["kind"] == "category":
                cats = c["categories"]
                shown = ", ".join(cats[:8]) + (" ..." if len(cats) > 8 else "")
                line = f"column {c['name']!r}: text, one-hot encoded into {len(cats)} columns ({shown})"
                lines.append(line + (f"; {filled}" if filled else ""))
            elif filled:
                lines.append(f"column {c['name']!r}: numbers; {filled}")
            else:
                plain += 1
        held = np.setdiff1d(np.arange(ds.n_rows), rows)
        for name, n in self.unseen(ds, held).items():
            lines.append(
                f"column {name!r}: {n} held-out row{'s' if n > 1 else ''} hold a category the training rows "
                "lack, encoded as no category"
            )
        if plain:
            lines.append(f"{plain} numeric column{'s' if plain > 1 else ''} used as they are")
        return lines

    # -- plain data ----------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"impute": self.impute, "columns": [dict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> ColumnPlan:
        try:
            return cls([dict(c) for c in d["columns"]], d.get("impute"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"the model's column plan is malformed: {exc}") from None
