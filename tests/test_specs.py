"""The provider specs (sources/spec.py) and their registry: the built-in providers declare what
the contract says, the places that must agree with them do, and registering is safe to undo."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from coverctl.config import Secret, Settings, known_variables, secret_variables
from coverctl.constants import PictureTrust, Source
from coverctl.sources import registry
from coverctl.sources.base import CandidateLister, CastLister, Switchable
from coverctl.sources.spec import Variable

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "character_images.sql"


def test_the_sql_check_list_names_every_registered_source_label() -> None:
    sql = SQL_FILE.read_text(encoding="utf-8")
    check = re.search(r"CHECK \(\s*source IN \(([^)]*)\)", sql)
    assert check is not None
    listed = re.findall(r"'([a-z_]+)'", check.group(1))
    assert sorted(listed) == sorted(registry.source_labels()) == sorted(Source.ALL)


def test_built_in_providers_keep_the_contracts_rates_scores_and_order() -> None:
    # cli-contract.md "Rate limits", the JSON result's quality scores, and the cascade order.
    assert registry.default_rates() == {
        "tmdb": 40.0,
        "tvdb": 20.0,
        "hardcover": 1.0,
        "replicate": 10.0,
        "duckduckgo": 0.5,
    }
    assert registry.default_bursts() == {"hardcover": 10}
    scores = {label: registry.base_score(label) for label in registry.source_labels()}
    assert scores == {
        "pinned": 100,
        "character_specific": 100,
        "ai_generated": 80,
        "tmdb": 50,
        "tvdb": 70,
        "hardcover": 60,
        "web_search": 30,
    }
    order = {
        m: [s.step for s in registry.specs_for_media(m)] for m in ("movie", "tv", "book", None)
    }
    assert order == {
        "movie": ["tmdb_movie", "web_search", "generate"],
        "tv": ["tvdb", "tmdb_tv", "web_search", "generate"],
        "book": ["hardcover", "web_search", "generate"],
        None: ["tmdb_movie", "tvdb", "tmdb_tv", "hardcover", "web_search", "generate"],
    }
    assert [s.step for s in registry.specs() if s.opt_in] == ["generate"]


def test_picture_trust_and_cache_tags_per_label() -> None:
    trust = {label: registry.picture_trust(label) for label in registry.source_labels()}
    assert trust["tmdb"] is PictureTrust.TRUSTED
    assert trust["tvdb"] is trust["hardcover"] is PictureTrust.UNRELIABLE
    assert trust["web_search"] is PictureTrust.ALWAYS_CHECKED
    assert trust["ai_generated"] is trust["character_specific"] is PictureTrust.TRUSTED
    assert registry.cache_tags_for("duckduckgo") == ["duckduckgo", "web_search"]
    assert registry.cache_tags_for("ai_generated") == ["ai_generated", "generate", "replicate"]
    assert registry.cache_tags_for(" TVDB ") == ["tvdb"]
    assert registry.cache_tags_for("nobody") == ["nobody"]
    assert registry.remote_labels() == {"tmdb", "tvdb", "hardcover", "web_search"}


@pytest.mark.parametrize("declared", registry.variables(), ids=lambda v: v.name)
def test_every_provider_variable_is_known_and_read_as_declared(
    declared: Variable, make_settings: Callable[..., Settings]
) -> None:
    assert declared.name in known_variables()
    assert (declared.name in secret_variables()) is declared.secret
    given = "https://example.test/api/" if declared.url else "owner/model-1"
    settings = make_settings(**{declared.name: given})
    value = settings.setting(declared.name)
    if declared.secret:
        assert value == Secret(given) and given in settings.secrets()
    elif declared.url:
        assert value == "https://example.test/api"
    else:
        assert value == given
    if declared.field is not None:  # the typed field the source reads holds the same value
        assert getattr(settings, declared.field) == value


def test_optional_abilities_are_declared_by_the_sources_methods() -> None:
    classes = {spec.step: spec.source_class for spec in registry.specs()}
    listers = {step for step, cls in classes.items() if issubclass_protocol(cls, CandidateLister)}
    assert listers == {"tmdb_movie", "tmdb_tv", "tvdb", "hardcover", "web_search"}
    assert {s for s, c in classes.items() if issubclass_protocol(c, CastLister)} == {
        "tmdb_movie",
        "tmdb_tv",
    }
    assert {s for s, c in classes.items() if issubclass_protocol(c, Switchable)} == {"web_search"}


def issubclass_protocol(cls: type, protocol: type) -> bool:
    # Protocols with data members refuse issubclass(); an instance answers isinstance().
    return isinstance(cls(), protocol)


def test_registering_refuses_clashes_and_the_with_block_restores_the_registry() -> None:
    tmdb = registry.spec_for("tmdb_movie")
    assert tmdb is not None
    with pytest.raises(ValueError, match="already registered"):
        registry.register(tmdb)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(dataclasses.replace(tmdb, step="local"))
    with pytest.raises(ValueError, match="already has rate 40/s"):
        registry.register(dataclasses.replace(tmdb, step="tmdb_people", rate=5.0))

    people = dataclasses.replace(tmdb, step="tmdb_people", media_types=frozenset({"book"}))
    before = registry.specs()
    with registry.registered(people):
        assert registry.spec_for("tmdb_people") is people
        assert [s.step for s in registry.specs_for_media("book")][:2] == [
            "tmdb_people",
            "hardcover",
        ]
    assert registry.specs() == before
    assert registry.specs_for_media("book")[0].step == "hardcover"
