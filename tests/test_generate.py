"""AI generation against a Replicate fake (nothing here can spend money): opt-in only, the
prediction life cycle, storage as anonymous_<uuid>.jpg, reuse, the cap and money safety."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from coverctl.config import Settings
from coverctl.errors import CredentialRejected
from coverctl.images import Use, inspect_image
from coverctl.models import Query
from coverctl.resolver import Resolver
from coverctl.sources.generate import GenerateSource, build_prompt, estimate_cost
from coverctl.store.db import SqliteStore
from tests.fakes.base import parse_json_body
from tests.fakes.images import FakeImageHost, html_page, sharp_photo
from tests.fakes.replicate import (
    DELIVERY_HOST,
    THROTTLED_BODY,
    VALID_TOKEN,
    FakeReplicate,
)
from tests.resolving import FAST_RATES, SourceHarness

LYRA = Query("Lyra Belacqua", "Northern Lights", 1995, "book")
ANONYMOUS_JPG = re.compile(
    r"anonymous_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.jpg$"
)


@pytest.fixture
def replicate() -> FakeReplicate:
    return FakeReplicate()


@pytest.fixture
def delivery() -> FakeImageHost:
    host = FakeImageHost(DELIVERY_HOST)
    host.default = (sharp_photo(), "image/jpeg")
    return host


def fast_polling(max_generations: int | None = None) -> Callable[[Resolver], None]:
    def configure(resolver: Resolver) -> None:
        source = resolver.source("generate")
        assert isinstance(source, GenerateSource)
        source.poll_initial = 0.001
        source.poll_max = 0.005
        source.poll_timeout = 0.2
        source.max_generations = max_generations

    return configure


@pytest.fixture
def make_harness(
    make_settings: Callable[..., Settings], replicate: FakeReplicate, delivery: FakeImageHost
) -> Callable[..., SourceHarness]:
    def build(max_generations: int | None = None, **env: str) -> SourceHarness:
        values = {"REPLICATE_API_TOKEN": VALID_TOKEN, "COVERCTL_WEB_SEARCH": "0", **FAST_RATES}
        settings = make_settings(**{**values, **env})
        return SourceHarness(
            settings,
            {"api.replicate.com": replicate, DELIVERY_HOST: delivery},
            configure=fast_polling(max_generations),
        )

    return build


@pytest.fixture
def gen(make_harness: Callable[..., SourceHarness]) -> SourceHarness:
    return make_harness()


def generator(harness: SourceHarness) -> GenerateSource:
    assert harness.last_resolver is not None
    source = harness.last_resolver.source("generate")
    assert isinstance(source, GenerateSource)
    return source


def test_without_generate_no_prediction_is_ever_created(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    result = gen.resolve(LYRA)
    assert result.status == "not_found"
    assert replicate.creations() == 0
    assert replicate.requests == []
    assert "generate" not in [a.source for a in result.attempts]


def test_immediate_success_is_stored_as_anonymous_jpeg_and_recorded_ai_generated(
    gen: SourceHarness, replicate: FakeReplicate, static_dir: Path
) -> None:
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "resolved"
    candidate = result.candidate
    assert candidate is not None
    assert (candidate.source, candidate.quality_score) == ("ai_generated", 80)
    path = Path(candidate.image_url)
    assert ANONYMOUS_JPG.search(path.name)
    assert path.parent == (static_dir / "generated").resolve()
    assert path.read_bytes() == sharp_photo()
    (create,) = replicate.requests
    assert create.url.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create.headers["prefer"] == "wait"
    assert create.headers["authorization"] == f"Bearer {VALID_TOKEN}"
    inputs = parse_json_body(create)["input"]
    assert inputs["aspect_ratio"] == "2:3" and inputs["output_format"] == "jpg"
    assert inputs["num_outputs"] == 1
    assert "Lyra Belacqua" in inputs["prompt"] and "Northern Lights" in inputs["prompt"]
    store = SqliteStore(gen.settings.db_path)
    try:
        (row,) = store.find("lyra belacqua", "northern lights")
    finally:
        store.close()
    assert (row["source"], row["quality_score"], row["image_url"]) == (
        "ai_generated",
        80,
        str(path),
    )
    info = inspect_image(sharp_photo(), Use.PROFILE)
    assert (row["image_hash"], row["image_width"], row["image_height"]) == (info.phash, 600, 900)
    assert generator(gen).stats() | {"seconds": 0} == {
        "predictions": 1,
        "generated": 1,
        "failures": 0,
        "capped": 0,
        "seconds": 0,
    }


def test_next_resolve_finds_the_stored_image_without_calling_replicate(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    first = gen.resolve(LYRA, generate=True)
    sent = len(replicate.requests)
    again = gen.resolve(LYRA, generate=True, refresh=True)
    assert again.candidate is not None and first.candidate is not None
    assert again.candidate.image_url == first.candidate.image_url
    assert again.candidate.source == "ai_generated"
    assert [(a.source, a.outcome) for a in again.attempts][-1] == ("stored_ai", "accepted")
    assert len(replicate.requests) == sent


def test_backend_url_serves_the_generated_file(
    make_harness: Callable[..., SourceHarness],
) -> None:
    harness = make_harness(BACKEND_URL="https://backend.example")
    result = harness.resolve(LYRA, generate=True)
    assert result.candidate is not None
    url = result.candidate.image_url
    assert url.startswith("https://backend.example/api/image-no-auth/generated/anonymous_")
    again = harness.resolve(LYRA, generate=True, refresh=True).candidate
    assert again is not None and again.image_url == url


def test_output_inlined_as_a_data_uri_is_decoded_not_downloaded(
    gen: SourceHarness, replicate: FakeReplicate, delivery: FakeImageHost
) -> None:
    replicate.inline_output = sharp_photo()
    result = gen.resolve(LYRA, generate=True)
    assert result.candidate is not None
    assert Path(result.candidate.image_url).read_bytes() == sharp_photo()
    assert delivery.requests == []


def test_processing_prediction_is_polled_until_it_succeeds(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    replicate.plan = ["starting", "processing", "succeeded"]
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "resolved"
    (prediction_id,) = replicate.predictions
    assert replicate.paths("GET") == [f"/v1/predictions/{prediction_id}"] * 2
    assert replicate.creations() == 1


def test_failed_prediction_is_reported_with_its_error_and_not_remembered(
    gen: SourceHarness, replicate: FakeReplicate, static_dir: Path
) -> None:
    replicate.plan = ["failed"]
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["generate"]
    assert "failed: CUDA error: out of memory" in (result.error or "")
    assert generator(gen).failures == 1 and generator(gen).generated == 0
    assert not (static_dir / "generated").exists()


def test_prediction_that_never_finishes_is_canceled(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    replicate.plan = ["processing"]
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "not_found"
    assert "canceled" in (result.error or "")
    (prediction_id,) = replicate.predictions
    assert f"/v1/predictions/{prediction_id}/cancel" in replicate.paths("POST")


def test_unauthenticated_problem_json_is_credential_rejected(
    make_harness: Callable[..., SourceHarness], replicate: FakeReplicate
) -> None:
    harness = make_harness(REPLICATE_API_TOKEN="r8_revoked")
    with pytest.raises(CredentialRejected) as caught:
        harness.resolve(LYRA, generate=True)
    assert caught.value.exit_code == 4
    assert "REPLICATE_API_TOKEN" in str(caught.value)
    assert "You did not pass a valid authentication token" in str(caught.value)
    assert "r8_revoked" not in str(caught.value)


def test_throttled_creation_is_retried_after_retry_after(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    replicate.fail_next("/predictions$", 429, THROTTLED_BODY, headers={"Retry-After": "0.01"})
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "resolved"
    assert len(replicate.predictions) == 1


@pytest.mark.parametrize("fault", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_creation_that_may_have_reached_replicate_is_never_retried(
    gen: SourceHarness, replicate: FakeReplicate, fault: type[Exception]
) -> None:
    replicate.fail_next("/predictions$", exception=fault)
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["generate"]
    assert "not retried" in (result.error or "")
    assert replicate.creations() == 1
    assert generator(gen).predictions == 1  # it may be running: it counts against the cap


def test_server_error_on_creation_is_never_retried(
    gen: SourceHarness, replicate: FakeReplicate
) -> None:
    replicate.fail_next("/predictions$", 503, {"detail": "Service Unavailable", "status": 503})
    result = gen.resolve(LYRA, generate=True)
    assert result.unavailable_sources == ["generate"]
    assert replicate.creations() == 1


def test_generated_picture_that_fails_the_check_is_not_stored(
    gen: SourceHarness, delivery: FakeImageHost, static_dir: Path
) -> None:
    delivery.default = (html_page(), "image/jpeg")
    result = gen.resolve(LYRA, generate=True)
    assert result.status == "not_found"
    assert "generated image was rejected" in (result.error or "")
    assert "HTML page" in (result.error or "")
    assert not (static_dir / "generated").exists()
    assert generator(gen).failures == 1


def test_max_generations_caps_predictions_across_concurrent_rows(
    make_harness: Callable[..., SourceHarness], replicate: FakeReplicate
) -> None:
    harness = make_harness(max_generations=2)
    queries = [Query(f"Character {n}", "Northern Lights", 1995, "book") for n in "ABCDE"]
    results = harness.gather(queries, generate=True)
    assert [r.status for r in results].count("resolved") == 2
    assert replicate.creations() == 2
    capped = [r for r in results if r.status != "resolved"]
    assert all("cap of 2 AI generations" in (r.error or "") for r in capped)
    assert all(r.unavailable_sources == ["generate"] for r in capped)
    assert generator(harness).generated == 2


def test_reached_cap_leaves_later_rows_unresolved_without_asking_replicate(
    make_harness: Callable[..., SourceHarness], replicate: FakeReplicate
) -> None:
    harness = make_harness(max_generations=1)
    queries = [Query(f"Character {n}", "Northern Lights", 1995, "book") for n in "ABC"]
    results = harness.resolve_many(queries, generate=True)
    assert [r.status for r in results] == ["resolved", "not_found", "not_found"]
    assert replicate.creations() == 1
    assert "--max-generations" in (results[1].error or "")
    assert generator(harness).capped == 2
    # Not remembered as "not found": a later run with room under its cap generates them.
    later = make_harness(max_generations=5).resolve(queries[1], generate=True)
    assert later.status == "resolved" and replicate.creations() == 2


def test_missing_token_skips_generation(
    make_settings: Callable[..., Settings], replicate: FakeReplicate
) -> None:
    harness = SourceHarness(
        make_settings(COVERCTL_WEB_SEARCH="0"), {"api.replicate.com": replicate}
    )
    result = harness.resolve(LYRA, generate=True)
    assert result.status == "not_found"
    assert replicate.requests == []
    assert ("generate", "skipped") in [(a.source, a.outcome) for a in result.attempts]


def test_prompt_names_the_work_and_never_a_person() -> None:
    query = Query("Lyra Belacqua", "Northern Lights", 1995, "book", actor="Dakota Blue Richards")
    prompt = build_prompt(query)
    assert "Lyra Belacqua" in prompt and '"Northern Lights"' in prompt
    assert "1995 book" in prompt
    assert "Dakota" not in prompt and "Richards" not in prompt
    assert "the 2008 film" in build_prompt(Query("Bruce Wayne", "The Dark Knight", 2008, "movie"))
    assert "TV series" in build_prompt(Query("Walter White", "Breaking Bad", None, "tv"))


def test_cost_estimate_uses_the_documented_price() -> None:
    assert estimate_cost(10).startswith("about $0.03 for 10 images")
    assert "estimate" in estimate_cost(1)
    assert estimate_cost(1).startswith("about $0.003 for 1 image ")
    assert "no price on record" in estimate_cost(5, "someone/other-model")


@pytest.mark.azurite
def test_with_azure_configured_the_image_is_uploaded_to_the_images_container(
    make_harness: Callable[..., SourceHarness], azurite, static_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    harness = make_harness(AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string)
    result = harness.resolve(LYRA, generate=True)
    assert result.candidate is not None
    url = result.candidate.image_url
    assert url.startswith(f"{azurite.blob_endpoint}/images/anonymous_")
    assert ANONYMOUS_JPG.search(url)
    assert not (static_dir / "generated").exists()
    again = harness.resolve(LYRA, generate=True, refresh=True)
    assert again.candidate is not None and again.candidate.image_url == url
