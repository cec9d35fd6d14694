"""Every provider step coverctl knows: the `SPECS` of the source modules, and the local steps.

The built-in source modules are imported on first use, never at import time (`coverctl --help`
imports no HTTP stack). Adding a provider: write its module (a source class and its `SPECS`, see
`coverctl.sources.spec`) and name it in `BUILTIN_MODULES`; a test or plugin calls `register(spec)`
instead. Everything else (the cascade order, settings and secrets, rates, the dry run's estimate,
doctor's probe, audit's hosts and scores, `cache clear --source`) is read from here.

The local steps (a curator's pin, override files, stored AI pictures) read no provider: they are
`LOCAL_STEPS`, with the labels and scores their answers carry.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from coverctl.constants import PictureTrust, QualityScore, Source
from coverctl.sources.spec import LocalStep, ProviderSpec, Variable

if TYPE_CHECKING:
    from coverctl.sources.base import ImageSource

__all__ = [
    "BUILTIN_MODULES",
    "LOCAL_STEPS",
    "base_score",
    "cache_tags_for",
    "default_bursts",
    "default_rates",
    "picture_trust",
    "register",
    "registered",
    "remote_labels",
    "source_class",
    "source_labels",
    "spec_for",
    "specs",
    "specs_for_media",
    "unregister",
    "variable",
    "variables",
]

# The modules declaring the built-in provider steps (each has `SPECS`), in the order doctor probes
# them and `config show` lists their variables. The cascade order is the specs' `priority`.
BUILTIN_MODULES: Final = (
    "coverctl.sources.tmdb",
    "coverctl.sources.tvdb",
    "coverctl.sources.hardcover",
    "coverctl.sources.generate",
    "coverctl.sources.websearch",
)

# Asked before every provider, in this order (resolver.py).
LOCAL_STEPS: Final = (
    LocalStep(
        "pinned", "coverctl.sources.pinned", "PinnedSource", Source.PINNED, QualityScore.PINNED
    ),
    LocalStep(
        "local",
        "coverctl.sources.local",
        "LocalOverrideSource",
        Source.CHARACTER_SPECIFIC,
        QualityScore.CHARACTER_SPECIFIC,
    ),
    LocalStep(
        "stored_ai",
        "coverctl.sources.ai_cache",
        "StoredAiImageSource",
        Source.AI_GENERATED,
        QualityScore.AI_GENERATED,
    ),
)
_LOCAL: Final = {local.step: local for local in LOCAL_STEPS}
# Stricter trust wins when two steps share a label.
_TRUST_ORDER: Final = (PictureTrust.TRUSTED, PictureTrust.UNRELIABLE, PictureTrust.ALWAYS_CHECKED)

_specs: dict[str, ProviderSpec] = {}
_loaded = False
_derived: dict[Any, Any] = {}  # answers computed from _specs, dropped when it changes
_local_classes: dict[str, type[ImageSource] | None] = {}


def specs() -> tuple[ProviderSpec, ...]:
    """Every registered provider step, built-in ones first, in registration order."""
    return tuple(_all().values())


def spec_for(step: str) -> ProviderSpec | None:
    """The spec of provider step `step`; None for a local step or a step this build lacks."""
    return _all().get(step)


def specs_for_media(media_type: str | None) -> tuple[ProviderSpec, ...]:
    """The provider steps a query of `media_type` (None: no media type) consults, in cascade
    order; opt-in steps (generation) included, last by their priority."""
    key = ("media", media_type)
    if key not in _derived:
        served = [spec for spec in _all().values() if media_type in spec.media_types]
        _derived[key] = tuple(sorted(served, key=lambda spec: spec.priority))
    found: tuple[ProviderSpec, ...] = _derived[key]
    return found


def register(spec: ProviderSpec, *, replace: bool = False) -> None:
    """Add a provider step (a test's fake, a plugin). ValueError when its step is taken (unless
    `replace`) or its provider is already registered with another default rate or burst."""
    specs_now = _all()
    if spec.step in _LOCAL or (spec.step in specs_now and not replace):
        raise ValueError(f"A step named {spec.step!r} is already registered.")
    for other in specs_now.values():
        shared = other.step != spec.step and other.provider == spec.provider
        if shared and (other.rate, other.burst) != (spec.rate, spec.burst):
            raise ValueError(
                f"Provider {spec.provider!r} already has rate {other.rate:g}/s "
                f"(burst {other.burst}) from the step {other.step!r}."
            )
    specs_now[spec.step] = spec
    _derived.clear()


def unregister(step: str) -> None:
    """Remove a provider step (KeyError when there is none)."""
    del _all()[step]
    _derived.clear()


@contextmanager
def registered(*added: ProviderSpec) -> Iterator[None]:
    """Register `added` (replacing steps of the same name) for the duration of a `with` block,
    then restore the registry as it was: for tests."""
    specs_now = _all()
    before = dict(specs_now)
    try:
        for spec in added:
            register(spec, replace=True)
        yield
    finally:
        specs_now.clear()
        specs_now.update(before)
        _derived.clear()


def source_class(step: str) -> type[ImageSource] | None:
    """The source class of a provider or local step; None when this build lacks it."""
    spec = spec_for(step)
    if spec is not None:
        return spec.source_class
    local = _LOCAL.get(step)
    if local is None:
        return None
    if step not in _local_classes:
        module = _import(local.module)
        _local_classes[step] = None if module is None else getattr(module, local.class_name)
    return _local_classes[step]


def source_labels() -> tuple[str, ...]:
    """Every label an answer (and so a stored row) may carry: the local steps' and the specs'."""
    labels = [local.source for local in LOCAL_STEPS] + [spec.source for spec in specs()]
    return tuple(dict.fromkeys(labels))


def base_score(label: str) -> int | None:
    """The highest base score answers labelled `label` carry; None for an unknown label."""
    scores = [local.score for local in LOCAL_STEPS if local.source == label]
    scores += [spec.base_score for spec in specs() if spec.source == label]
    return max(scores, default=None)


def picture_trust(label: str) -> PictureTrust:
    """How far pictures labelled `label` are trusted without a download (local ones are)."""
    key = ("trust", label)
    if key not in _derived:
        trusts = [spec.picture_trust for spec in _all().values() if spec.source == label]
        _derived[key] = max(trusts, key=_TRUST_ORDER.index, default=PictureTrust.TRUSTED)
    trust: PictureTrust = _derived[key]
    return trust


def remote_labels() -> frozenset[str]:
    """Labels whose pictures are always http(s) URLs from a provider (never local files)."""
    key = ("remote",)
    if key not in _derived:
        _derived[key] = frozenset(spec.source for spec in _all().values() if spec.remote_pictures)
    found: frozenset[str] = _derived[key]
    return found


def cache_tags_for(name: str) -> list[str]:
    """The cache tags `cache clear --source NAME` clears: a source label and the provider it
    calls tag their entries differently, so either name clears both (web_search and duckduckgo;
    ai_generated, generate and replicate)."""
    name = name.strip().lower()
    tags: set[str] = set()
    for spec in specs():
        if name in spec.tags:
            tags |= spec.tags
    return sorted(tags) if tags else [name]


def variables() -> tuple[Variable, ...]:
    """Every variable the provider steps read, once each, in registration order."""
    found: dict[str, Variable] = {}
    for spec in specs():
        for variable in spec.variables:
            found.setdefault(variable.name, variable)
    return tuple(found.values())


def variable(name: str) -> Variable | None:
    """The provider variable called `name`, if a provider step declares one."""
    key = ("variables",)
    if key not in _derived:
        _derived[key] = {declared.name: declared for declared in variables()}
    found: Variable | None = _derived[key].get(name)
    return found


def default_rates() -> dict[str, float]:
    """Requests per second each provider may receive by default."""
    return {spec.provider: spec.rate for spec in specs()}


def default_bursts() -> dict[str, int]:
    """Requests each provider may send back to back before pacing applies (where it may)."""
    return {spec.provider: spec.burst for spec in specs() if spec.burst is not None}


def _all() -> dict[str, ProviderSpec]:
    global _loaded
    if not _loaded:
        for name in BUILTIN_MODULES:
            module = _import(name)
            for spec in module.SPECS if module is not None else ():
                _specs.setdefault(spec.step, spec)
        _loaded = True
    return _specs


def _import(name: str) -> Any:
    """The module, or None when this build does not include it (a slimmed-down package)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
