"""A trained model with everything that turns raw rows into its answers.

A ``Predictor`` holds a network and what its training did to the data before
the network saw it: the column plan (text columns one-hot encoded, empty cells
filled), the scaler of the features, the target scaler of a numeric target,
the label names of the classes and the image shape of the rows. It is read
from and written to one model file (``load``/``save``, over
``scratchnn.serialization``, which stores all of it as the file's metadata),
and answers on raw rows (``predict``, ``predict_proba``): a table read with
the model's columns (``read_rows``), or an array of the model's features.

Every piece of the metadata is checked on loading against the network it
came with; what ``save`` would never write is a ``ModelFileError`` naming it.
"""

from __future__ import annotations

import math

import numpy as np

from .columns import ColumnPlan
from .data import Scaler, TargetScaler
from .losses import TASKS
from .serialization import ModelFileError, load_network, save
from .sources import Dataset, load_source, read_features
from .validation import check_features

__all__ = ["Predictor"]


def _shape(value, name: str, n_dims: tuple[int, ...]) -> tuple | None:
    """``value`` as a tuple of positive ints of one of the lengths ``n_dims``, or None."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) not in n_dims:
        raise ValueError(f"{name} must be a list of {' or '.join(map(str, n_dims))} sizes, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{name} must hold positive whole numbers, got {value!r}")
    return tuple(value)


class Predictor:
    """A network with its preprocessing: raw rows in, answers out.

    ``metadata`` is what the model file records (``scratchnn train`` writes it):
    ``task``, ``feature_names``, ``label_names``, ``target``, ``scaler``,
    ``target_scaler``, ``columns`` (the column plan), ``image_shape``,
    ``input_shape``, and anything else the writer kept. Each is checked
    against the network (``ValueError`` naming what is wrong).
    """

    def __init__(self, network, metadata: dict | None = None) -> None:
        meta = dict(metadata or {})
        self.network, self.metadata = network, meta
        n_in, n_out = network.n_features, network.n_outputs
        self.task = meta.get("task", "classification")
        if self.task not in TASKS:
            raise ValueError(f"the model's task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.task != network.task:
            raise ValueError(f"the model's task is {self.task!r}, but its network's loss fits {network.task}")
        self.numeric = TASKS[self.task].numeric
        names = meta.get("label_names") or [str(i) for i in range(n_out)]
        if len(names) != n_out:
            raise ValueError(f"{len(names)} label names for a network with {n_out} outputs")
        self.label_names = list(names)
        self.columns = ColumnPlan.from_dict(meta["columns"]) if meta.get("columns") else None
        if self.columns is not None and self.columns.n_outputs != n_in:
            raise ValueError(
                f"the column plan makes {self.columns.n_outputs} features for a network of {n_in}"
            )
        self.scaler = Scaler.from_dict(meta["scaler"]) if meta.get("scaler") else Scaler.identity(n_in)
        if self.scaler.mean.shape[0] != n_in:
            raise ValueError(f"the scaler has {self.scaler.mean.shape[0]} features for a network of {n_in}")
        self.target_scaler = None
        if self.numeric:
            if not meta.get("target_scaler"):
                raise ValueError("the model is a regression model without its target scaler")
            self.target_scaler = TargetScaler.from_dict(meta["target_scaler"])
            if self.target_scaler.mean.shape[0] != n_out:
                raise ValueError(
                    f"the target scaler has {self.target_scaler.mean.shape[0]} columns for {n_out} outputs"
                )
        self.image_shape = _shape(meta.get("image_shape"), "image_shape", (2,))
        self.input_shape = _shape(meta.get("input_shape"), "input_shape", (1, 2, 3))
        if self.input_shape is not None and math.prod(self.input_shape) != n_in:
            raise ValueError(
                f"input_shape {list(self.input_shape)} does not hold the network's {n_in} inputs"
            )
        self.feature_names = meta.get("feature_names") or [f"x{i}" for i in range(n_in)]
        self.target = meta.get("target")

    # -- files ------------------------------------------------------------------------
    @classmethod
    def load(cls, path) -> Predictor:
        """The predictor stored in ``path``; ``ModelFileError`` for a damaged file or its metadata."""
        network, meta = load_network(path)
        try:
            return cls(network, meta)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelFileError(f"{path}: metadata: {exc}") from None

    def save(self, path) -> None:
        """Write the network and the metadata to ``path`` (atomically; see ``serialization.save``)."""
        save(self.network, path, self.metadata)

    # -- raw rows ---------------------------------------------------------------------
    def _read_options(self) -> dict:
        plan = self.columns
        return {
            "text": plan.text_columns if plan is not None else (),
            "allow_missing": plan is not None and plan.impute is not None,
        }

    def read_rows(self, path: str) -> Dataset:
        """The rows of a CSV file to predict, their columns read as the model's were (no labels)."""
        return read_features(path, self.feature_names, self.target, **self._read_options())

    def read_source(self, source: str, target: str | None = None) -> Dataset:
        """A data source with labels (for scoring), its columns read as the model's were."""
        return load_source(
            source, target, default_target=self.target, find_text=False, **self._read_options()
        )

    def features(self, ds: Dataset, unknown: str = "error") -> np.ndarray:
        """The rows of ``ds`` as the network's features before scaling: by name, then through the plan."""
        plan = self.columns
        if plan is None:
            return ds.select(self.metadata.get("feature_names"))
        if ds.feature_names != plan.input_names:
            x = ds.select(plan.input_names)  # the numbers in the model's order; text is by name
            ds = Dataset(ds.name, x, ds.labels, list(plan.input_names), ds.target, text=ds.text,
                         missing=ds.missing, lines=ds.lines)  # fmt: skip
        return plan.transform(ds, unknown=unknown)

    def inputs(self, rows, unknown: str = "error", name: str = "the rows") -> np.ndarray:
        """The network's inputs for ``rows`` (a ``Dataset`` or an array of features): scaled, checked
        (``name`` names the rows in messages)."""
        x = self.features(rows, unknown) if isinstance(rows, Dataset) else np.asarray(rows, dtype=np.float64)
        net = self.network
        # a scaled row the network's dtype cannot hold (1e39 in float32) is refused, naming it
        return check_features(
            self.scaler.transform(x), f"{name} (scaled)", dtype=net.dtype, n_features=net.n_features
        )

    def predict(self, rows, unknown: str = "error") -> np.ndarray:
        """The answers for ``rows``: class codes (index into ``label_names``; 0/1 columns for
        multilabel), or numbers ``(N,)`` in the target's units for a numeric target."""
        return self.predict_inputs(self.inputs(rows, unknown))

    def predict_inputs(self, x: np.ndarray) -> np.ndarray:
        """``predict`` on inputs already scaled (``inputs``)."""
        predicted = self.network.predict(x)
        if not self.numeric:
            return predicted
        return np.asarray(self.target_scaler.inverse_transform(predicted), dtype=np.float64)

    def predict_proba(self, rows, unknown: str = "error") -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in the order of ``label_names``."""
        if self.numeric:
            raise ValueError("class probabilities need a classifier, but this model predicts a number")
        return self.network.predict_proba(self.inputs(rows, unknown))
