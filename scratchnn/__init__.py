"""scratchnn: a neural-network library written from scratch in NumPy.

The core, in the order it is taught: ``layers`` (forward and backward of each
piece), ``losses``, ``network`` (the container), ``optimizers``, ``schedules``
and ``trainer`` (the loop). Around it: ``hyperparameter_tuning``, ``data``,
``gradcheck``, ``serialization``.
"""

from .config import TrainingConfig, train
from .gradcheck import check_gradients
from .hyperparameter_tuning import GridSearchResult, grid_search
from .layers import Dense, Dropout, Identity, Layer, LeakyReLU, ReLU, Sigmoid, Tanh
from .losses import MeanSquaredError, SoftmaxCrossEntropy
from .network import NeuralNetwork
from .optimizers import SGD, Adam, AdamW, Momentum
from .recipe import build_mlp
from .schedules import CosineAnnealing, StepDecay, WarmupCosine
from .serialization import ModelFileError, load, save
from .trainer import History, Trainer, TrainingDiverged

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealing",
    "Dense",
    "Dropout",
    "GridSearchResult",
    "History",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MeanSquaredError",
    "ModelFileError",
    "Momentum",
    "NeuralNetwork",
    "ReLU",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "StepDecay",
    "Tanh",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "WarmupCosine",
    "__version__",
    "build_mlp",
    "check_gradients",
    "grid_search",
    "load",
    "save",
    "train",
]
