"""MkDocs hooks for the scratchnn book.

* Puts this folder on ``sys.path``, so the code blocks that run at build time
  (markdown-exec) can ``import book`` for the helpers they share.
* Generates one reference page per public module of scratchnn, found by walking
  the installed package, and lists them in the navigation under "Reference":
  a module added to the package gets its page without anyone editing the site.
"""

from __future__ import annotations

import os
import sys

from mkdocs.structure.files import File

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import book  # noqa: E402  (needs the path set above)


def _page_uri(module: str) -> str:
    return f"reference/{module}.md"


def on_config(config):
    pages = [{module: _page_uri(module)} for module in book.public_modules() if module != "scratchnn"]
    nav = config["nav"]
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and "Reference" in entry:
            nav[i] = {"Reference": ["reference/index.md", *pages]}
            break
    else:
        raise ValueError("mkdocs.yml: the nav has no 'Reference' entry to fill")
    return config


def on_files(files, config):
    for module in book.public_modules():
        if module == "scratchnn":
            continue  # reference/index.md, written by hand, covers the top-level names
        files.append(File.generated(config, _page_uri(module), content=book.reference_page(module)))
    return files
