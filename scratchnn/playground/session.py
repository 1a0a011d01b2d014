"""One tab's run: a data set, a network and its trainer, stepped an epoch at a time by the library's own code.

The server owns the threads and the sockets; a ``Session`` only trains and
describes itself. Building one for the same settings gives the same data
(``datasets.make_points`` from ``data_seed``), the same initial weights and
the same batch order (one generator from ``seed``, passed down to
``build_mlp`` and the ``Trainer``, as the downloaded script does), so the
same number of epochs gives the same losses.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time

import numpy as np

from ..layers import ACTIVATIONS
from ..optimizers import make_optimizer
from ..recipe import build_mlp
from ..serialization import save
from ..trainer import Trainer, TrainingDiverged
from ..validation import check_random_state
from . import datasets
from .script import script_for

__all__ = ["BOUNDARY_GRID", "NEURON_GRID", "Session", "Upload"]

#: Cells per side of the output's heatmap and of each neuron's small heatmap.
BOUNDARY_GRID = 50
NEURON_GRID = 24
_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


class Upload:
    """The text of an uploaded CSV file and its header, kept until the tab picks its columns."""

    def __init__(self, name: str, text: str, header: list[str]) -> None:
        self.name, self.text, self.header = name, text, header
        self.columns: tuple[str, str, str] | None = None
        self.points = self.labels = self.label_names = None

    def choose(self, x1: str, x2: str, label: str) -> None:
        """Read the points for these columns (``ValueError`` naming the line and column of a bad cell)."""
        self.points, self.labels, self.label_names = datasets.read_points_csv(
            self.text, x1, x2, label, self.name
        )
        self.columns = (x1, x2, label)


class Session:
    """Data, network and trainer for ``settings`` (checked by ``settings.check_settings``)."""

    def __init__(self, settings: dict, upload: Upload | None = None) -> None:
        self.upload = upload
        self.configure(settings)

    # -- building -------------------------------------------------------------
    def configure(self, settings: dict) -> None:
        """Rebuild everything for ``settings``: new data if its settings changed, epoch 0, fresh weights."""
        s = dict(settings)
        if s["dataset"] == "csv":
            if self.upload is None or self.upload.points is None:
                raise ValueError("dataset 'csv' needs an uploaded file with its columns chosen first")
            points, labels = self.upload.points, self.upload.labels
            order = check_random_state(s["data_seed"]).permutation(points.shape[0])
            points, labels = points[order], labels[order]
            source = (self.upload.name, self.upload.columns, self.upload.label_names)
        else:
            source = (None, None, ["0", "1"])
            points, labels = datasets.make_points(s["dataset"], datasets.N_POINTS, s["noise"], s["data_seed"])
        x_tr, y_tr, x_te, y_te = datasets.split(points, labels, s["train_share"])
        # nothing above changed the session: a refused setting leaves the run as it was
        self.settings, self.points, self.labels = s, points, labels
        self.csv_name, self.csv_columns, self.label_names = source  # kept if another file is uploaded
        self.p_train, self.y_train, self.p_test, self.y_test = x_tr, y_tr, x_te, y_te
        self.x_train = datasets.features(x_tr, s["features"])
        self.x_test = datasets.features(x_te, s["features"])
        self.reset()

    def reset(self) -> None:
        """Epoch 0: weights and batch order drawn afresh from ``seed``."""
        s = self.settings
        rng = check_random_state(s["seed"])
        self.network = build_mlp(
            len(s["features"]),
            tuple(s["hidden"]),
            2,
            activation=s["activation"],
            dropout=s["dropout"],
            seed=rng,
            dtype=np.float64,
        )
        extra = {"momentum": 0.9} if s["optimizer"] == "momentum" else {}
        optimizer = make_optimizer(s["optimizer"], s["learning_rate"], s["weight_decay"], **extra)
        self.trainer = Trainer(self.network, optimizer, batch_size=s["batch_size"], seed=rng)
        self.epoch = 0
        self.history: list[list[float]] = []  # [epoch, training loss, test loss, test accuracy]
        self.diverged: str | None = None
        self._grid_x = datasets.features(datasets.grid(BOUNDARY_GRID), s["features"])
        self._neuron_x = datasets.features(datasets.grid(NEURON_GRID), s["features"])

    # -- training --------------------------------------------------------------
    def run(self, epochs: int | None = 1, seconds: float | None = None) -> list[list[float]]:
        """Train ``epochs`` epochs, or as many as fit in ``seconds`` (at least one); return their records.

        A diverged run stops, keeps the message in ``diverged`` and trains no further.
        """
        records: list[list[float]] = []
        if self.diverged:
            return records
        deadline = None if seconds is None else time.perf_counter() + seconds
        while True:
            try:
                record = self.trainer.fit(
                    self.x_train, self.y_train, 1, x_val=self.x_test, y_val=self.y_test, verbose=False
                )[0]
            except TrainingDiverged as exc:
                self.diverged = str(exc).replace("epoch 1 ", f"epoch {self.epoch + 1} ")
                break
            self.epoch += 1
            row = [self.epoch, record["loss"], record["val_loss"], record["val_accuracy"]]
            self.history.append(row)
            records.append(row)
            if deadline is None:
                if len(records) >= epochs:
                    break
            elif time.perf_counter() >= deadline:
                break
        return records

    # -- describing ----------------------------------------------------------------
    def boundary(self) -> np.ndarray:
        """Probability of class 1 at each cell of the ``BOUNDARY_GRID`` grid, row by row from the top."""
        return self.network.predict_proba(self._grid_x)[:, 1]

    def neurons(self) -> list[list[np.ndarray]]:
        """Each hidden neuron's output on the ``NEURON_GRID`` grid: a list per layer, an array per neuron."""
        x, layers = self._neuron_x, []
        for layer in self.network.layers:
            x = layer.forward(x, training=False)
            if isinstance(layer, _ACTIVATION_TYPES):
                layers.append([x[:, j].copy() for j in range(x.shape[1])])
        return layers

    def weights(self) -> list[dict]:
        """Each layer with parameters, in order: ``{"w": (in, out) as lists, "b": (out,)}``."""
        return [
            {"w": layer.params[0].tolist(), "b": layer.params[1].tolist()}
            for layer in self.network.layers
            if layer.params
        ]

    def update(self, records: list[list[float]]) -> dict:
        """The message the page draws: new epochs' losses, the heatmaps and the weights.

        The boundary travels as float64 (base64, little-endian), exactly the
        probabilities ``predict_proba`` gives; neuron heatmaps as one byte per
        cell, the activation clipped to [-1, 1] and mapped to 0..255.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            neurons = [
                [_b64(np.round((np.clip(v, -1, 1) + 1) * 127.5).astype(np.uint8)) for v in layer]
                for layer in self.neurons()
            ]
        return {
            "type": "update",
            "epoch": self.epoch,
            "records": records,
            "boundary": _b64(self.boundary().astype("<f8")),
            "neurons": neurons,
            "weights": self.weights(),
            "diverged": self.diverged,
        }

    def data(self) -> dict:
        """The message with the points: ``[x1, x2, label]`` rows of the training and the test split."""
        rows = lambda p, y: np.column_stack([p, y]).round(4).tolist()  # noqa: E731
        return {
            "type": "data",
            "settings": self.settings,
            "train": rows(self.p_train, self.y_train),
            "test": rows(self.p_test, self.y_test),
            "label_names": self.label_names,
            "boundary_grid": BOUNDARY_GRID,
            "neuron_grid": NEURON_GRID,
            "extent": datasets.EXTENT,
        }

    # -- taking it away ---------------------------------------------------------------
    def model_file(self) -> bytes:
        """The network as a scratchnn model file (``scratchnn.load`` reads it), the settings as metadata."""
        meta = {"playground": self.settings, "feature_names": self.settings["features"], "epoch": self.epoch}
        with tempfile.TemporaryDirectory(prefix="scratchnn-playground-") as tmp:
            path = os.path.join(tmp, "model.npz")
            save(self.network, path, metadata=meta)
            with open(path, "rb") as f:
                return f.read()

    def script(self) -> str:
        """A Python script that rebuilds, trains and evaluates this run for its current number of epochs."""
        return script_for(self.settings, max(self.epoch, 1), self.csv_name, self.csv_columns)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
