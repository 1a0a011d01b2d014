"""Data coming in: sources, the CSV reader, columns, targets, splits, scalers, and the preparation.

``sources`` reads a SOURCE (a built-in set, a CSV or an ``.npz`` file) into a
``Dataset`` (its CSV files through ``csv_reader``); ``targets`` says whether a
target is classes or numbers; ``columns`` turns a table's text columns and empty
cells into numbers; ``splits`` cuts the rows and codes the labels; ``scalers``
standardises features and a numeric target; ``prepare`` does all of it for the
command line.
"""

from .preparation import Prepared, fingerprint, prepare
from .scalers import Scaler, TargetScaler
from .splits import (
    encode_labels,
    encode_with,
    load_digits_split,
    split_indices,
    stratified_split,
    train_val_split,
)

__all__ = [
    "Prepared",
    "Scaler",
    "TargetScaler",
    "encode_labels",
    "encode_with",
    "fingerprint",
    "load_digits_split",
    "prepare",
    "split_indices",
    "stratified_split",
    "train_val_split",
]
