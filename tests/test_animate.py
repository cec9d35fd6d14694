"""`coverctl animate` against a Luma fake (real generation shapes) and a real Azurite: the
picture reaches Luma as a readable URL, the video lands in videos-produced, a job is paid for
once (an interrupted run polls the same job), and every failure is one sentence."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import CredentialRejected, NoResult, ServiceFailed, UsageError
from coverctl.services.animate import (
    AnimateOptions,
    Animator,
    estimate_text,
    parse_generation,
)
from tests.fakes.base import parse_json_body, serve
from tests.fakes.images import FakeImageHost, sharp_photo
from tests.fakes.luma import (
    CREDITS_BODY,
    MP4_BYTES,
    RATE_LIMIT_BODY,
    VALID_KEY,
    VIDEO_HOST,
    FakeLuma,
)
from tests.services import AzuriteService
from tests.servicing import FAST_SERVICE_RATES, ServiceHarness

pytestmark = pytest.mark.azurite


@pytest.fixture
def luma() -> FakeLuma:
    return FakeLuma()


@pytest.fixture
def video_host() -> FakeImageHost:
    host = FakeImageHost(VIDEO_HOST)
    host.default = (MP4_BYTES, "video/mp4")
    return host


@pytest.fixture
def picture(static_dir: Path) -> Path:
    path = static_dir / "characters" / "bruce_wayne.jpg"
    path.write_bytes(sharp_photo())
    return path


@pytest.fixture
def make_harness(
    make_settings: Callable[..., Settings],
    azurite: AzuriteService,
    luma: FakeLuma,
    video_host: FakeImageHost,
    picture: Path,
) -> Callable[..., ServiceHarness]:
    def build(**env: str) -> ServiceHarness:
        values = {
            "LUMAAI_API_KEY": VALID_KEY,
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "COVERCTL_WEB_SEARCH": "0",
            **FAST_SERVICE_RATES,
            **env,
        }
        return ServiceHarness(
            make_settings(**values), {"api.lumalabs.ai": luma, VIDEO_HOST: video_host}
        )

    return build


@pytest.fixture
def harness(make_harness: Callable[..., ServiceHarness]) -> ServiceHarness:
    return make_harness()


def fast_animator(timeout: float = 5.0) -> Animator:
    animator = Animator()
    animator.poll_initial = 0.001
    animator.poll_max = 0.005
    animator.poll_timeout = timeout
    return animator


def animate(harness: ServiceHarness, animator: Animator | None = None, **kwargs: Any) -> Any:
    animator = animator or fast_animator()
    options = kwargs.pop("options", AnimateOptions())
    return harness.run(
        lambda r: animator.run(r, "Bruce Wayne", "The Dark Knight", options, **kwargs)
    )


def download_blob(azurite: AzuriteService, container: str, name: str) -> tuple[bytes, str]:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        blob = service.get_blob_client(container, name)
        data = blob.download_blob().readall()
        return data, str(blob.get_blob_properties().content_settings.content_type)


def jobs(settings: Settings) -> list[dict[str, Any]]:
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM service_jobs ORDER BY created_at")]
    finally:
        conn.close()


def test_a_local_picture_is_uploaded_and_given_to_luma_as_a_readable_link(
    harness: ServiceHarness, luma: FakeLuma, azurite: AzuriteService, picture: Path
) -> None:
    result = animate(harness)
    assert result.state == "completed" and not result.resumed and not result.reused
    (create,) = [r for r in luma.requests if r.method == "POST"]
    assert create.url.path == "/dream-machine/v1/generations/video"
    body = parse_json_body(create)
    assert (body["model"], body["duration"], body["resolution"]) == ("ray-2", "5s", "720p")
    assert body["aspect_ratio"] == "3:4" and body["loop"] is False
    frame_url = body["keyframes"]["frame0"]["url"]
    assert "/images/anonymous_" in frame_url and "sig=" in frame_url
    # Luma could really read it: the link opens the private blob without any other credential.
    fetched = httpx.get(frame_url)
    assert fetched.status_code == 200 and fetched.content == picture.read_bytes()
    # The video was stored under the generation's id, as an MP4.
    generation_id = result.generation_id
    assert result.video_url == f"{azurite.blob_endpoint}/videos-produced/{generation_id}.mp4"
    assert download_blob(azurite, "videos-produced", f"{generation_id}.mp4") == (
        MP4_BYTES,
        "video/mp4",
    )
    # What is kept and shown never carries the signed link.
    (job,) = jobs(harness.settings)
    assert job["state"] == "completed" and job["result_url"] == result.video_url
    assert "sig=" not in json.dumps(job) and "sig=" not in json.dumps(result.as_dict())
    assert result.picture_url == str(picture.resolve())


def test_the_same_request_again_reports_the_stored_video_without_paying(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    first = animate(harness)
    again = animate(harness)
    assert again.reused and again.video_url == first.video_url
    assert again.generation_id == first.generation_id
    assert luma.creations() == 1
    another = animate(harness, new=True)
    assert another.generation_id != first.generation_id and luma.creations() == 2
    # Other options are another request: a new generation.
    animate(harness, options=AnimateOptions(duration="9s"))
    assert luma.creations() == 3


def test_an_interrupted_run_resumes_polling_the_same_job(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    luma.plan = ["queued", *(["dreaming"] * 400), "completed"]
    with pytest.raises(NoResult, match=r"still dreaming .* run the same command again"):
        animate(harness, fast_animator(timeout=0.05))
    (job,) = jobs(harness.settings)
    assert job["state"] == "dreaming" and job["result_url"] is None
    generation_id = job["job_id"]
    polls_before = luma.polls(generation_id)
    luma._steps[generation_id] = ["dreaming", "completed"]  # Luma finishes meanwhile
    result = animate(harness)
    assert result.resumed and result.generation_id == generation_id
    assert result.state == "completed" and result.video_url
    assert luma.creations() == 1  # paid once
    assert luma.polls(generation_id) > polls_before


def test_a_failed_generation_says_why_and_a_new_run_tries_again(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    luma.plan = ["queued", "failed"]
    with pytest.raises(NoResult, match="advanced moderation failed"):
        animate(harness)
    assert [j["state"] for j in jobs(harness.settings)] == ["failed"]
    luma.plan = ["queued", "completed"]
    assert animate(harness).state == "completed"
    assert luma.creations() == 2


def test_rejected_key_is_a_credential_error_and_nothing_is_recorded(
    make_harness: Callable[..., ServiceHarness], luma: FakeLuma
) -> None:
    harness = make_harness(LUMAAI_API_KEY="luma-wrong")
    with pytest.raises(CredentialRejected, match="LUMAAI_API_KEY") as caught:
        animate(harness)
    assert "luma-wrong" not in caught.value.message
    assert jobs(harness.settings) == []


def test_429_with_retry_after_is_waited_out_and_one_job_is_created(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    luma.fail_next("/generations/video", 429, RATE_LIMIT_BODY, headers={"Retry-After": "0.02"})
    assert animate(harness).state == "completed"
    assert luma.creations() == 2  # the refused one and the real one
    assert len(luma.generations) == 1
    assert harness.stats["luma"]["rate_limited"] == 1


def test_no_credit_is_a_billing_error(harness: ServiceHarness, luma: FakeLuma) -> None:
    luma.fail_next("/generations/video", 400, CREDITS_BODY)
    with pytest.raises(Exception, match=r"plan or credit .*Insufficient credits"):
        animate(harness)


def test_a_5xx_on_create_is_never_retried(harness: ServiceHarness, luma: FakeLuma) -> None:
    luma.fail_next("/generations/video", 502, {"detail": "Bad Gateway"}, times=3)
    with pytest.raises(ServiceFailed, match=r"not retried.*Luma may have started the video"):
        animate(harness)
    assert luma.creations() == 1


def test_a_malformed_generation_is_a_service_failure(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    luma.fail_next(r"/generations/[\w-]+$", 200, {"id": "x", "state": "melting"})
    with pytest.raises(ServiceFailed, match="unknown state 'melting'"):
        animate(harness)


def test_a_video_that_is_not_mp4_is_refused(
    harness: ServiceHarness, video_host: FakeImageHost
) -> None:
    video_host.default = (b"<html>expired link</html>", "text/html")
    with pytest.raises(ServiceFailed, match="not an MP4"):
        animate(harness)


def test_dry_run_and_max_cost_spend_nothing(harness: ServiceHarness, luma: FakeLuma) -> None:
    planned = animate(harness, dry_run=True)
    assert planned.dry_run and planned.state == "planned"
    assert "$0.71" in planned.estimate and "read 2026-12-04" in planned.estimate
    with pytest.raises(UsageError, match="over --max-cost"):
        animate(harness, max_cost=0.5)
    assert luma.requests == []
    assert "$11.47" in estimate_text(AnimateOptions(resolution="4k", duration="9s"))
    assert "unknown" in estimate_text(AnimateOptions(model="ray-flash-2"))


def test_a_picture_nobody_has_is_no_result(
    harness: ServiceHarness, luma: FakeLuma, picture: Path
) -> None:
    picture.unlink()
    with pytest.raises(NoResult, match="no picture of Bruce Wayne"):
        animate(harness)
    assert luma.requests == []


def test_with_backend_url_a_local_picture_is_passed_as_its_public_backend_address(
    make_harness: Callable[..., ServiceHarness], luma: FakeLuma
) -> None:
    harness = make_harness(BACKEND_URL="https://covers.example.com")
    animate(harness)
    frame_url = parse_json_body(luma.requests[0])["keyframes"]["frame0"]["url"]
    assert frame_url == "https://covers.example.com/api/image-no-auth/characters/bruce_wayne.jpg"


def test_a_blob_of_the_account_gets_a_read_link_and_a_provider_picture_goes_as_it_is(
    harness: ServiceHarness, azurite: AzuriteService
) -> None:
    from coverctl.push.azure import upload_blob

    connection = harness.settings.azure_connection_string
    assert connection is not None
    blob_url = upload_blob(
        connection, "images", "anonymous_test-link.jpg", sharp_photo(), "image/jpeg"
    )
    animator = fast_animator()
    link = harness.run(lambda r: animator._public_picture_url(r.context, blob_url))
    assert link.startswith(blob_url + "?") and "sig=" in link
    assert httpx.get(link).content == sharp_photo()
    tmdb = "https://image.tmdb.org/t/p/w500/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
    assert harness.run(lambda r: animator._public_picture_url(r.context, tmdb)) == tmdb


@pytest.mark.parametrize(
    "payload", [[], {"state": "queued"}, {"id": "g1", "state": None}, {"id": "", "state": "failed"}]
)
def test_parse_generation_refuses_shapes_it_cannot_use(payload: object) -> None:
    with pytest.raises(ServiceFailed):
        parse_generation(payload)


def test_cli_animate_json_and_dry_run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    azurite: AzuriteService,
    picture: Path,
) -> None:
    luma = FakeLuma()
    with serve(luma) as url:
        luma.video_base = url  # the video on the service's own host: trusted like a provider
        monkeypatch.setenv("LUMAAI_API_URL", f"{url}/dream-machine/v1")
        monkeypatch.setenv("LUMAAI_API_KEY", VALID_KEY)
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        luma.route(
            "GET",
            r"/dream_machine/(?P<id>[\w-]+)/watermarked_video0\.mp4",
            lambda request, match: httpx.Response(
                200, content=MP4_BYTES, headers={"Content-Type": "video/mp4"}
            ),
        )
        args = ["animate", "Bruce Wayne", "--title", "The Dark Knight"]
        assert run([*args, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "cost: about $0.71" in out and "nothing was generated" in out
        assert luma.requests == []
        # Polling pauses are seconds for real; the fake completes on the first poll.
        luma.plan = ["queued", "completed"]
        monkeypatch.setattr(Animator, "__init__", lambda self: _fast_init(self))
        assert run([*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "completed" and data["video_url"].endswith(".mp4")
        assert "sig=" not in json.dumps(data) and VALID_KEY not in json.dumps(data)
        assert run(args) == 0
        assert "already made by an earlier run" in capsys.readouterr().out


def _fast_init(animator: Animator) -> None:
    animator.poll_initial = 0.001
    animator.poll_factor = 1.5
    animator.poll_max = 0.005
    animator.poll_timeout = 5.0


def test_a_video_link_to_a_private_address_is_refused_by_the_network_guard(
    harness: ServiceHarness, luma: FakeLuma
) -> None:
    luma.video_base = "http://10.0.0.7"  # not a configured service host: vetted like any URL
    with pytest.raises(ServiceFailed, match=r"could not be downloaded: .*private"):
        animate(harness)
