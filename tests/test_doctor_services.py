"""`coverctl doctor` probes of the image services (SerpApi, Luma, Gemini, the vision API)
against served fakes: accepted, rejected (each provider's own way), and half-usable accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from coverctl.cli.app import run
from tests.fakes.base import serve
from tests.fakes.gemini import VALID_KEY as GEMINI_KEY
from tests.fakes.gemini import FakeGemini
from tests.fakes.luma import VALID_KEY as LUMA_KEY
from tests.fakes.luma import FakeLuma
from tests.fakes.serpapi import VALID_KEY as SERPAPI_KEY
from tests.fakes.serpapi import FakeSerpApi
from tests.fakes.vision import VALID_KEY as VISION_KEY
from tests.fakes.vision import FakeVision

SERVICES = ("serpapi", "luma", "gemini", "vision")


@dataclass
class Fakes:
    serpapi: FakeSerpApi
    luma: FakeLuma
    gemini: FakeGemini
    vision: FakeVision


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    fakes = Fakes(FakeSerpApi(), FakeLuma(), FakeGemini(), FakeVision())
    with serve(
        fakes.serpapi,
        fakes.luma,
        fakes.gemini,
        fakes.vision,
        prefixes=tuple(f"/{s}" for s in SERVICES),
    ) as url:
        for name, value in {
            "SERPAPI_URL": f"{url}/serpapi",
            "SERPAPI_API_KEY": SERPAPI_KEY,
            "LUMAAI_API_URL": f"{url}/luma/dream-machine/v1",
            "LUMAAI_API_KEY": LUMA_KEY,
            "GEMINI_API_URL": f"{url}/gemini/v1beta",
            "GEMINI_API_KEY": GEMINI_KEY,
            "COVERCTL_VISION_URL": f"{url}/vision/v1",
            "COVERCTL_VISION_MODEL": "gpt-4o-mini",
            "COVERCTL_VISION_API_KEY": VISION_KEY,
        }.items():
            monkeypatch.setenv(name, value)
        yield fakes


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, object]], str]:
    code = run(["doctor", "--json"])
    out, err = capsys.readouterr()
    checks = {c["component"]: c for c in json.loads(out)["checks"]}
    return code, checks, out + err


def test_configured_services_are_checked_with_one_cheap_request_each(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks, text = doctor(capsys)
    assert code == 0
    assert all(checks[name]["status"] == "ok" for name in SERVICES), checks
    assert checks["serpapi"]["detail"] == "API key accepted (5958 searches left)"
    assert checks["luma"]["detail"] == "API key accepted (credit balance $12.50)"
    assert checks["vision"]["detail"] == "model gpt-4o-mini available"
    assert fakes.serpapi.paths() == ["/account.json"]  # free: no search billed
    assert fakes.luma.paths() == ["/dream-machine/v1/credits"]
    assert fakes.gemini.paths() == ["/v1beta/models"]
    assert fakes.vision.paths() == ["/v1/models"]
    for secret in (SERPAPI_KEY, LUMA_KEY, GEMINI_KEY, VISION_KEY):
        assert secret not in text


@pytest.mark.parametrize(
    ("component", "variable", "wrong"),
    [
        ("serpapi", "SERPAPI_API_KEY", "serp-wrong-key-000"),
        ("luma", "LUMAAI_API_KEY", "luma-wrong-key-000"),
        ("gemini", "GEMINI_API_KEY", "AIza-wrong-key-000"),  # Google: HTTP 400 API_KEY_INVALID
        ("vision", "COVERCTL_VISION_API_KEY", "sk-wrong-key-000"),
    ],
)
def test_a_rejected_key_names_the_variable_and_never_the_key(
    fakes: Fakes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    component: str,
    variable: str,
    wrong: str,
) -> None:
    monkeypatch.setenv(variable, wrong)
    code, checks, text = doctor(capsys)
    assert code == 4
    check = checks[component]
    assert check["status"] == "failed" and "rejected the key" in str(check["detail"])
    assert variable in str(check["fix"])
    assert wrong not in text


def test_an_account_without_searches_and_a_missing_model_fail_with_a_fix(
    fakes: Fakes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes.serpapi.searches_left = 0
    monkeypatch.setenv("COVERCTL_VISION_MODEL", "llava:13b")
    code, checks, _ = doctor(capsys)
    assert code == 4
    assert "no searches left" in str(checks["serpapi"]["detail"])
    assert "no model 'llava:13b'" in str(checks["vision"]["detail"])


def test_unconfigured_services_are_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    code, checks, _ = doctor(capsys)
    assert code == 0
    assert {checks[name]["status"] for name in SERVICES} == {"skipped"}
    assert "COVERCTL_VISION_URL is not set" in str(checks["vision"]["detail"])
