"""The fitted network as scikit-learn names it, and how it travels in a pickle.

``coefs_`` and ``intercepts_`` are views of the network's own Dense arrays, as
scikit-learn's ``MLPClassifier`` keeps them; the pickling keeps the arrays the
network, its layers and the trainer share as one object graph.
"""

from __future__ import annotations

import pickle

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _write_arrays(arrays: list[np.ndarray], values, name: str) -> None:
    """Copy ``values`` into ``arrays`` (the network's own), checking their number and shapes."""
    values = list(values)
    if len(values) != len(arrays):
        raise ValueError(f"{name} must be a list of {len(arrays)} arrays, got {len(values)}")
    for i, (array, value) in enumerate(zip(arrays, values)):
        value = np.asarray(value, dtype=array.dtype)
        if value.shape != array.shape:
            raise ValueError(f"{name}[{i}] must have shape {array.shape}, got {value.shape}")
        array[...] = value


class FittedNetworkMixin:
    """``coefs_``/``intercepts_`` over ``self.network_``, and pickling that keeps ``network_`` and
    ``_trainer`` together. Put before ``BaseEstimator`` among the bases, as scikit-learn's mixins."""

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out): the Dense layers' own ``W`` arrays.

        scratchnn's Dense computes ``x @ W + b`` with ``W (in_features, out_features)``, scikit-learn's
        layout, so these are the network's arrays themselves (not copies): writing into them changes
        the network. Taken as the first parameter of each layer that has parameters.
        """
        check_is_fitted(self, "network_")
        return [layer.params[0] for layer in self.network_.layers if layer.params]

    @coefs_.setter
    def coefs_(self, values) -> None:
        """Assigning ``coefs_`` writes each matrix into the network's weights (same shapes)."""
        _write_arrays(self.coefs_, values, "coefs_")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,): the Dense layers' own ``b`` arrays."""
        check_is_fitted(self, "network_")
        return [layer.params[1] for layer in self.network_.layers if layer.params]

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        """Assigning ``intercepts_`` writes each vector into the network's biases (same shapes)."""
        _write_arrays(self.intercepts_, values, "intercepts_")

    # The network, its layers, the optimizer's state and the trainer share arrays (an optimizer
    # updates the very arrays the layers compute with). joblib pickles each array on its own, which
    # would split them: the loaded model would train copies it never reads. So the fitted network
    # and trainer travel as one plain pickle, which keeps the sharing (and, loaded from a
    # read-only memory map, still gives writable arrays).
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        if "network_" in state:
            state["_network_and_trainer"] = pickle.dumps((state.pop("network_"), state.pop("_trainer")))
        return state

    def __setstate__(self, state) -> None:
        state = dict(state)
        blob = state.pop("_network_and_trainer", None)
        super().__setstate__(state)
        if blob is not None:
            self.network_, self._trainer = pickle.loads(blob)
