"""A Griffe extension: document a class by the docstring it has once imported.

Griffe reads docstrings from the source. The scikit-learn estimators complete
theirs when the class is created (their ``Parameters`` section is generated from
``scratchnn.recipe.config.SETTINGS``, so it cannot drift from the settings); the source
holds only a ``{parameters}`` placeholder, and their ``__init__`` signature is
made at the same time. For such a class this extension replaces the source
docstring and ``__init__`` parameters by the runtime ones, so the reference
shows what ``help(ScratchNNClassifier)`` shows.
"""

from __future__ import annotations

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_class_instance(self, *, node, cls: griffe.Class, agent, **kwargs) -> None:
        if cls.docstring is None or "{" not in cls.docstring.value:
            return  # only a docstring with a placeholder can be completed at import time
        try:
            runtime = getattr(importlib.import_module(cls.module.path), cls.name)
        except (ImportError, AttributeError):
            return
        doc = inspect.getdoc(runtime)
        if not doc or doc == cls.docstring.value:
            return
        cls.docstring.value = doc
        kinds = {
            inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
            inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
            inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
            inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
            inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
        }
        parameters = [
            griffe.Parameter(
                p.name,
                kind=kinds[p.kind],
                default=None if p.default is inspect.Parameter.empty else repr(p.default),
            )
            for p in inspect.signature(runtime.__init__).parameters.values()
        ]
        init = griffe.Function("__init__", parameters=griffe.Parameters(*parameters), parent=cls)
        cls.set_member("__init__", init)
