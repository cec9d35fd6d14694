"""coverctl: find, check, store and publish the best picture for a fictional character.

The library works without the CLI::

    from coverctl import Query, Settings, resolve_character
    resolution = resolve_character(Query("Bruce Wayne", "The Dark Knight"), Settings.from_env())
"""

from coverctl.errors import CoverctlError
from coverctl.models import Candidate, Query, Resolution

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Lazy so `import coverctl` (and `coverctl --help`) stays fast.
    if name == "Settings":
        from coverctl.config import Settings

        return Settings
    if name == "resolve_character":
        from coverctl.resolver import resolve_character

        return resolve_character
    raise AttributeError(name)


__all__ = [
    "Candidate",
    "CoverctlError",
    "Query",
    "Resolution",
    "Settings",
    "__version__",
    "resolve_character",
]
