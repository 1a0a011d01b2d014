"""The estimators' warm start continues only the network their parameters describe."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.sklearn import ScratchNNClassifier, ScratchNNRegressor


@pytest.mark.parametrize(
    ("name", "value"),
    [("hidden_units", 8), ("layers", "dense4-relu-dense"), ("dtype", "float64"), ("activation", "tanh")],
)
def test_a_warm_start_after_the_network_changed_is_refused_naming_the_parameter(name, value):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = (x[:, 0] > 0).astype(int)
    model = ScratchNNClassifier(hidden_units=4, epochs=2, warm_start=True, random_state=0).fit(x, y)
    before = model.get_params()[name]
    model.set_params(**{name: value})
    with pytest.raises(ValueError, match="continues the fitted network") as refused:
        model.fit(x, y)
    assert str(refused.value) == (
        f"warm_start=True continues the fitted network, but {name} changed from {before!r} to {value!r} "
        "since it was built; fit with warm_start=False for a new network"
    )
    model.set_params(warm_start=False).fit(x, y)  # a new network of the new shape
    assert model.predict(x).shape == (40,)


def test_a_warm_start_with_the_same_network_continues_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = x[:, 0] - x[:, 1]
    model = ScratchNNRegressor(hidden_units=4, epochs=2, warm_start=True, random_state=0).fit(x, y)
    first = model.network_
    model.set_params(learning_rate=0.001).fit(x, y)
    assert model.network_ is first
    assert model.t_ > 0
    assert len(model.loss_curve_) == 4
