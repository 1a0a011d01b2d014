"""scikit-learn estimators built on scratchnn's own network and trainer.

``ScratchNNClassifier`` and ``ScratchNNRegressor`` follow scikit-learn's estimator contract (both
pass ``check_estimator``), so they drop into pipelines, cross-validation and grid searches, and they
offer what scikit-learn's ``MLPClassifier``/``MLPRegressor`` users reach for: the ``lbfgs``
optimizer (with ``max_fun``), ``partial_fit``, ``warm_start``, ``sample_weight``, ``loss_curve_``,
``coefs_``/``intercepts_``, the ``invscaling`` and ``adaptive`` schedules, ``tol`` with
``n_iter_no_change``, early stopping with ``validation_scores_``, sparse ``X``::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from scratchnn.sklearn import ScratchNNClassifier

    model = make_pipeline(StandardScaler(), ScratchNNClassifier(random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)

Their parameters are the training settings of ``scratchnn.recipe.config.SETTINGS`` (same names, same
meanings as ``scratchnn train``) plus scikit-learn's ``early_stopping``, ``validation_fraction``,
``warm_start``, ``random_state`` and ``verbose``. This package wraps the library; the core never
imports it (nor scikit-learn). Modules: ``_base`` (what both share), ``_classifier``, ``_regressor``.
"""

from ._classifier import ScratchNNClassifier
from ._regressor import ScratchNNRegressor

__all__ = ["ScratchNNClassifier", "ScratchNNRegressor"]
