"""Training settings, each declared once (the recipe that turns them into a trained network is ``train``).

``SETTINGS`` holds one ``Setting`` per training setting: its name, default,
allowed values, help text and command-line flag. Everything else is derived
from that one declaration, as scikit-learn derives its checks from
``_parameter_constraints`` and nanoGPT its overrides from its config's fields:

* ``TrainingConfig``, a dataclass with one field per setting, checked on creation;
* the command line's training options and their help (``scratchnn.cli.options``);
* the keys a tuning grid may name, and the list of them in ``scratchnn tune --help``;
* the parameter documentation of the scikit-learn estimator (``settings_doc``).

Adding a setting is one ``Setting(...)`` line in ``SETTINGS`` (plus, if it is
new behaviour, the code in ``build`` that uses it).
"""

from __future__ import annotations

import dataclasses
import textwrap

from ..layers import ACTIVATIONS
from ..losses import LOSSES
from ..optimizers import OPTIMIZERS
from ..schedules import SCHEDULES
from .setting import Setting

__all__ = [
    "REGRESSION_DEFAULTS",
    "REPLACED_BY_LAYERS",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "Setting",
    "TrainingConfig",
    "settings_doc",
]


SETTINGS: tuple[Setting, ...] = (
    Setting("hidden_units", 50, "hidden layer sizes: 128 is one layer, 128,64 (or 128x64) two",
            kind="units", flag="--hidden", metavar="UNITS"),
    Setting("layers", None, "the whole network as layers joined by '-' (see scratchnn.recipe.spec), e.g. "
            "conv32k3p1-bn-relu-maxpool2-gap-dense; replaces hidden_units, activation and dropout",
            kind="layers", optional=True, metavar="SPEC"),
    Setting("activation", "relu", "activation of the hidden layers", kind=str, choices=tuple(ACTIVATIONS)),
    Setting("loss", "cross-entropy", "loss: softmax cross-entropy for classes, binary cross-entropy (bce) "
            "for multilabel 0/1 columns, or for numbers mean squared error (also on one-hot codes of class "
            "labels), huber, mean absolute error (mae) or, for counts, poisson (a log link: the outputs are "
            "log-means; the scikit-learn regressor only, which keeps the target raw)", kind=str,
            choices=tuple(LOSSES)),
    Setting("optimizer", "sgd", "sgd, momentum (SGD with momentum), adam, adamw (Adam with decoupled "
            "weight decay), or lbfgs (full batch: an epoch is one L-BFGS iteration with a strong-Wolfe line "
            "search over all the rows, which chooses the step, so learning_rate, schedule, batch_size and "
            "shuffle do not apply), with torch.optim's conventions", kind=str, choices=tuple(OPTIMIZERS)),
    Setting("max_fun", 15000, "lbfgs: most evaluations of the loss over all the rows in one run "
            "(scikit-learn's max_fun)", kind=int, metavar="N"),
    Setting("learning_rate", 0.1, "learning rate, the peak of the schedule if there is one; try 0.001 for "
            "adam and adamw", low=0, closed="neither", flag="--lr", metavar="RATE"),
    Setting("momentum", 0.9, "momentum coefficient of the momentum optimizer", low=0, high=1, metavar="BETA"),
    Setting("batch_size", 16, "rows per mini-batch; the last, shorter batch of an epoch is kept", kind=int,
            metavar="N"),
    Setting("epochs", 20, "passes over the training rows", kind=int, metavar="N"),
    Setting("shuffle", True, "shuffle the training rows every epoch (false: the rows in their order)",
            kind=bool, metavar="BOOL"),
    Setting("weight_decay", 0.0, "weight decay (L2): added to the gradient for sgd, momentum and adam, "
            "decoupled for adamw", low=0, metavar="L2"),
    Setting("dropout", 0.0, "dropout rate after each hidden layer while training (0: no dropout)", low=0,
            high=1, metavar="RATE"),
    Setting("clip_norm", None, "clip the gradients' global norm to this before each update (as "
            "torch.nn.utils.clip_grad_norm_; none: no clipping)", low=0, closed="neither", optional=True,
            metavar="NORM"),
    Setting("label_smoothing", 0.0, "label smoothing of the cross-entropy loss (as torch's)", low=0, high=1,
            closed="both", metavar="EPS"),
    Setting("schedule", "constant", "learning-rate schedule over the run: constant, step decay, cosine "
            "annealing, linear warm-up then cosine, invscaling (lr / (t + 1) ** power_t over updates t), or "
            "adaptive (divided by 5 whenever the stopping rule sees a plateau, instead of stopping, until "
            "1e-6)", kind=str, choices=tuple(SCHEDULES)),
    Setting("power_t", 0.5, "exponent of the invscaling schedule", low=0, metavar="P"),
    Setting("patience", None, "early stopping: stop once the validation loss has not improved for N "
            "epochs and keep the best epoch's weights", kind=int, optional=True, metavar="N"),
    Setting("tol", 0.0, "early stopping and n_iter_no_change: an epoch counts as improved only if the "
            "monitored loss falls below the best by more than this (scikit-learn's tol, Keras's min_delta); "
            "lbfgs: converged once no gradient entry exceeds it (scikit-learn's)", low=0, metavar="DELTA"),
    Setting("n_iter_no_change", None, "convergence without validation data: stop once the training loss "
            "has not improved by more than tol for N epochs (scikit-learn's n_iter_no_change; inf or none: "
            "never; lbfgs stops on its own tests instead)", kind=int, optional=True, metavar="N"),
    Setting("dtype", "float32", "floating-point type of the weights and the data they see", kind=str,
            choices=("float32", "float64")),
)  # end of SETTINGS  # fmt: skip

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

#: The settings a ``layers`` spec replaces: it names every layer, its activations and its dropout.
REPLACED_BY_LAYERS = ("hidden_units", "activation", "dropout")

#: The settings a numeric target trains with unless told otherwise, where they differ from
#: ``SETTINGS``' defaults (which suit classes): a linear output needs a smaller, adaptive step.
#: Chosen by ``benchmarks/regression.py``; used by ``ScratchNNRegressor`` and by the command line.
REGRESSION_DEFAULTS: dict = {
    "loss": "mse",
    "hidden_units": (256,),
    "activation": "tanh",
    "optimizer": "adam",
    "learning_rate": 0.003,
    "batch_size": 64,
    "epochs": 150,
    "weight_decay": 0.006,
    "schedule": "cosine",
    # float64: predictions that do not depend on which other rows share the batch to 1e-7
    # (scikit-learn's check_methods_subset_invariance), which float32 BLAS does not give
    "dtype": "float64",
}


class _Config:
    """The methods of ``TrainingConfig``; its fields are made from ``SETTINGS`` below."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad setting."""
        for setting in SETTINGS:
            setting.check(getattr(self, setting.name))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> TrainingConfig:
        """A copy with some settings changed (unknown names raise ``ValueError``)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; known settings: {self.field_names()}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (a tuple of widths becomes a list)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def settings_doc(names=None, defaults: dict | None = None, indent: int = 4) -> str:
    """numpydoc ``Parameters`` entries for the settings ``names`` (all by default), in declaration order.

    ``defaults`` overrides the defaults shown (an estimator's own defaults).
    """
    defaults = defaults or {}
    wanted = [s for s in SETTINGS if names is None or s.name in names]
    lines = []
    for s in wanted:
        default = defaults.get(s.name, s.default)
        lines.append(f"{s.name} : {s.doc_type()}, default={default!r}")
        help_text = s.help
        if s.kind is float:
            help_text += f"; {s.describe()}"
        lines += textwrap.wrap(help_text + ".", 100, initial_indent="    ", subsequent_indent="    ")
    return textwrap.indent("\n".join(lines), " " * indent)


TrainingConfig = dataclasses.make_dataclass(
    "TrainingConfig",
    [(s.name, object, dataclasses.field(default=s.default)) for s in SETTINGS],
    bases=(_Config,),
    namespace={
        "__module__": __name__,
        "__doc__": "Everything needed to build and train an MLP, one field per entry of ``SETTINGS``.\n\n"
        "Checked on creation (``validate``): a bad value raises ``ValueError`` or ``TypeError``\n"
        "naming the setting.\n\nFields\n------\n" + settings_doc(indent=0),
    },
)
