"""coverctl: find, check, store and publish the best picture for a fictional character.

The library works without the CLI::

    from coverctl import Query, Settings, resolve_character
    resolution = resolve_character(Query("Bruce Wayne", "The Dark Knight"), Settings.from_env())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.errors import CoverctlError
    from coverctl.models import Candidate, Query, Resolution
    from coverctl.resolver import resolve_character

__version__ = "0.1.0"

# Public names and the module defining each, imported on first use so that `import coverctl`
# (and so `coverctl --help`) stays fast.
_EXPORTS = {
    "Candidate": "coverctl.models",
    "CoverctlError": "coverctl.errors",
    "Query": "coverctl.models",
    "Resolution": "coverctl.models",
    "Settings": "coverctl.config",
    "resolve_character": "coverctl.resolver",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coverctl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Candidate",
    "CoverctlError",
    "Query",
    "Resolution",
    "Settings",
    "__version__",
    "resolve_character",
]
