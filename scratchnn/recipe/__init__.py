"""Recipes: a network written as data (the one-line spec), and the one builder that turns it into layers.

``spec``: the grammar (``parse_layers``, ``format_layers``, the ``KEYWORDS`` table);
``build``: the one builder, ``build_network``, and its MLP shorthand ``build_mlp``.
Above the core (layers, losses, network), which never imports it.
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
