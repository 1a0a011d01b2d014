"""What an export needs from a trained model: the network and the preprocessing around it.

A model reaches the exporters as a model file's path, a ``(network, metadata)``
pair (what ``scratchnn.serialization.load_network`` returns), a bare
``NeuralNetwork``, or a ``Predictor``. ``model_parts`` turns any of them into
one ``ModelParts``: the network, the feature scaler, the column plan (one-hot
text columns, imputed empty cells), the target scaler of a regression model,
and the names of the labels and input columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..data import Scaler, TargetScaler
from ..data.columns import ColumnPlan
from ..losses import TASKS
from ..network import NeuralNetwork
from ..serialization import ModelFileError, load_network

__all__ = ["ModelParts", "model_parts"]


@dataclass
class ModelParts:
    """A network and everything between raw rows and its input, and between its output and answers.

    ``scaler``, ``plan``, ``target_scaler``, ``label_names`` and
    ``feature_names`` are ``None`` when the model does not have them (a bare
    network has none).
    """

    network: NeuralNetwork
    scaler: Scaler | None = None
    plan: ColumnPlan | None = None
    target_scaler: TargetScaler | None = None
    label_names: list[str] | None = None
    feature_names: list[str] | None = None

    @property
    def task(self) -> str:
        """What the network predicts, as its loss says: "classification", "multilabel" or "regression"."""
        return self.network.task


def model_parts(model) -> ModelParts:
    """The ``ModelParts`` of a path, a ``(network, metadata)`` pair, a network or a ``Predictor``."""
    if isinstance(model, ModelParts):
        return model
    if isinstance(model, (str, os.PathLike)):
        return from_metadata(*load_network(model), source=os.fspath(model))
    if isinstance(model, NeuralNetwork):
        return ModelParts(model)
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], NeuralNetwork):
        return from_metadata(*model)
    network, meta = getattr(model, "network", None), getattr(model, "metadata", None)
    if isinstance(network, NeuralNetwork) and isinstance(meta, dict):  # a Predictor: what it was loaded from
        return from_metadata(network, meta)
    raise TypeError(
        "the model to export must be a model file's path, a NeuralNetwork, a (network, metadata) "
        f"pair or a Predictor, got {type(model).__name__}"
    )


def from_metadata(network: NeuralNetwork, meta: dict, source: str = "the model") -> ModelParts:
    """The parts a model file's ``metadata`` records (as ``scratchnn train`` writes it)."""
    if not isinstance(meta, dict):
        raise TypeError(f"metadata must be a dict, got {type(meta).__name__}")
    try:
        scaler = Scaler.from_dict(meta["scaler"]) if meta.get("scaler") else None
        plan = ColumnPlan.from_dict(meta["columns"]) if meta.get("columns") else None
        target = TargetScaler.from_dict(meta["target_scaler"]) if meta.get("target_scaler") else None
    except ValueError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    names = meta.get("label_names")
    if names is not None and TASKS[network.task].exclusive and len(names) != network.n_outputs:
        raise ModelFileError(
            f"{source}: {len(names)} label names for a network with {network.n_outputs} outputs"
        )
    if TASKS[network.task].numeric and meta.get("task") == network.task and target is None:
        raise ModelFileError(f"{source}: a regression model without its target scaler")
    return ModelParts(network, scaler, plan, target, names, meta.get("feature_names"))
