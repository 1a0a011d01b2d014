"""The Python script a playground run downloads: the same data, network and training through the public API.

Run with ``python``, it prints one line per epoch, ``epoch N train_loss L
test_loss T test_accuracy A`` (the numbers the page charts, to 10 digits),
then the final test accuracy.
"""

from __future__ import annotations

import pprint

from ..optimizers import OPTIMIZERS

__all__ = ["script_for"]

_TEMPLATE = '''\
"""A scratchnn playground run: {summary}.

Rebuilds the page's data and network with the same seeds, trains {epochs} epochs
with scratchnn's own Trainer and prints each epoch's losses. Run: python {filename}
"""

import numpy as np

import scratchnn
from scratchnn.playground import datasets

SETTINGS = {settings}
EPOCHS = {epochs}

{data}
x_train_points, y_train, x_test_points, y_test = datasets.split(points, labels, SETTINGS["train_share"])
x_train = datasets.features(x_train_points, SETTINGS["features"])
x_test = datasets.features(x_test_points, SETTINGS["features"])

# One generator from the seed, passed down: initial weights, dropout masks, batch order.
rng = np.random.default_rng(SETTINGS["seed"])
network = scratchnn.build_mlp(
    len(SETTINGS["features"]),
    tuple(SETTINGS["hidden"]),
    2,
    activation=SETTINGS["activation"],
    dropout=SETTINGS["dropout"],
    seed=rng,
    dtype=np.float64,
)
optimizer = scratchnn.{optimizer}(
    learning_rate=SETTINGS["learning_rate"], weight_decay=SETTINGS["weight_decay"]{extra}
)
trainer = scratchnn.Trainer(network, optimizer, batch_size=SETTINGS["batch_size"], seed=rng)


def report(record):
    print(
        f"epoch {{record['epoch']}} train_loss {{record['loss']:.10f}} "
        f"test_loss {{record['val_loss']:.10f}} test_accuracy {{record['val_accuracy']:.10f}}"
    )


trainer.fit(x_train, y_train, EPOCHS, x_val=x_test, y_val=y_test, verbose=False, callback=report)
print(f"final test accuracy {{network.accuracy(x_test, y_test):.4f}}")
'''

_BUILTIN_DATA = """points, labels = datasets.make_points(
    SETTINGS["dataset"], datasets.N_POINTS, SETTINGS["noise"], SETTINGS["data_seed"]
)"""

_CSV_DATA = """# The file you uploaded: put it next to this script (or change the path).
with open({name!r}, encoding="utf-8") as f:
    points, labels, label_names = datasets.read_points_csv(f.read(), *{columns!r}, name={name!r})
order = np.random.default_rng(SETTINGS["data_seed"]).permutation(points.shape[0])
points, labels = points[order], labels[order]"""


def script_for(settings: dict, epochs: int, csv_name: str | None = None, csv_columns=None) -> str:
    """The script's text for checked ``settings``, training ``epochs`` epochs.

    ``csv_name``/``csv_columns`` (x1, x2, label) for a run on an uploaded file.
    """
    settings = {k: v for k, v in settings.items() if k != "show_test"}  # drawing only
    hidden = "-".join(map(str, settings["hidden"])) or "no hidden layer"
    summary = (
        f"{settings['dataset']} data, features {', '.join(settings['features'])}, {hidden} "
        f"{settings['activation']} network, {settings['optimizer']} "
        f"at learning rate {settings['learning_rate']:g}"
    )
    if settings["dataset"] == "csv":
        data = _CSV_DATA.format(name=csv_name or "data.csv", columns=tuple(csv_columns))
    else:
        data = _BUILTIN_DATA
    return _TEMPLATE.format(
        summary=summary,
        epochs=int(epochs),
        filename="playground_run.py",
        settings=pprint.pformat(settings, sort_dicts=False, width=100),
        data=data,
        optimizer=OPTIMIZERS[settings["optimizer"]].__name__,
        extra=", momentum=0.9" if settings["optimizer"] == "momentum" else "",
    )
