"""Recipes: settings or a spec in, a trained network out.

``spec``: a network written as data (the one-line grammar: ``parse_layers``,
``format_layers``, the ``KEYWORDS`` table); ``build``: the one builder,
``build_network``, and its MLP shorthand ``build_mlp``; ``setting`` and
``config``: the training settings (``Setting``, ``SETTINGS``,
``TrainingConfig``); ``train``: the recipe that turns settings and data into a
trained network. Above the core (layers, losses, network), which never imports it.
"""

from __future__ import annotations

from .build import build_mlp, build_network, mlp_spec
from .spec import KEYWORDS, BuildContext, Keyword, LayerSpec, format_layers, parse_layers

__all__ = [
    "KEYWORDS",
    "BuildContext",
    "Keyword",
    "LayerSpec",
    "build_mlp",
    "build_network",
    "format_layers",
    "mlp_spec",
    "parse_layers",
]
