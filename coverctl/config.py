"""Settings from the environment and an optional config file, secrets wrapped so they never print.

Precedence: environment variable > `COVERCTL_HOME/config.toml` (written by `coverctl config set`)
> built-in default. API keys are held as `Secret`, whose repr and str are redacted.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from coverctl.constants import DEFAULT_BURSTS, DEFAULT_RATES
from coverctl.errors import ConfigError, UsageError

CONFIG_FILE_NAME = "config.toml"
DATABASE_FILE_NAME = "coverctl.db"

# The settings config itself reads. Each provider step declares its own variables in its spec
# (sources/spec.Variable): `known_variables()` and `secret_variables()` are the full lists.
GENERAL_VARIABLES: dict[str, str] = {
    "SUPABASE_URL": "Supabase project URL",
    "SUPABASE_KEY": "Supabase service key",
    "AZURE_STORAGE_CONNECTION_STRING": "Azure Blob Storage connection string",
    "COVERCTL_POSTGRES_DSN": "PostgreSQL DSN for `push postgres`",
    "COVERCTL_REDIS_URL": "redis:// URL: cache, rate limits and locks shared by every worker",
    "COVERCTL_DATABASE_URL": "PostgreSQL URL of a store shared by several workers or hosts "
    "(unset: the SQLite file under COVERCTL_HOME)",
    "BACKEND_URL": "base URL used to qualify relative image paths",
    "COVERCTL_STATIC_DIR": "directory of local override images",
    "COVERCTL_HTTP_TIMEOUT": "seconds before a provider request times out",
    "SERPAPI_API_KEY": "SerpApi key (`lens` reverse image search, billed per search)",
    "SERPAPI_URL": "SerpApi base URL",
    "LUMAAI_API_KEY": "Luma Dream Machine API key (`animate`, billed per video)",
    "LUMAAI_API_URL": "Luma Dream Machine API base URL",
    "GEMINI_API_KEY": "Gemini API key (`edit`, billed per image)",
    "GEMINI_API_URL": "Gemini API base URL",
    "COVERCTL_GEMINI_MODEL": "Gemini image model used by `edit`",
    "COVERCTL_VISION_URL": "OpenAI-compatible chat API base URL for `identify --reader vision`",
    "COVERCTL_VISION_MODEL": "vision model name for `identify --reader vision`",
    "COVERCTL_VISION_API_KEY": "API key of the vision chat API (optional for a local server)",
}
GENERAL_SECRETS = frozenset(
    {
        "SUPABASE_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "COVERCTL_POSTGRES_DSN",
        "COVERCTL_DATABASE_URL",
        "SERPAPI_API_KEY",
        "LUMAAI_API_KEY",
        "GEMINI_API_KEY",
        "COVERCTL_VISION_API_KEY",
    }
)


def known_variables() -> dict[str, str]:
    """Every variable a user may set, with a one-line description (`coverctl config`): the
    provider steps' (from their specs), then config's own."""
    from coverctl.sources.registry import variables

    return {**{v.name: v.description for v in variables()}, **GENERAL_VARIABLES}


def secret_variables() -> frozenset[str]:
    """The variables holding credentials: never shown, prompted for without echo."""
    from coverctl.sources.registry import variables

    return GENERAL_SECRETS | {v.name for v in variables() if v.secret}


def default_rates() -> dict[str, float]:
    """Requests per second each provider may receive by default: the provider steps' (their
    specs) and the image services' and picture downloads' (constants.DEFAULT_RATES)."""
    from coverctl.sources.registry import default_rates as provider_rates

    return {**provider_rates(), **DEFAULT_RATES}


def default_bursts() -> dict[str, int]:
    from coverctl.sources.registry import default_bursts as provider_bursts

    return {**provider_bursts(), **DEFAULT_BURSTS}


class Secret:
    """A credential. `str()` and `repr()` are redacted; call `reveal()` where it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("coverctl", appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path
    static_dir: Path = Path("static/images")
    backend_url: str | None = None
    tmdb_api_key: Secret | None = None
    tmdb_api_url: str = "https://api.themoviedb.org/3"
    tmdb_image_base_url: str = "https://image.tmdb.org/t/p"
    tvdb_api_key: Secret | None = None
    tvdb_pin: Secret | None = None
    tvdb_api_url: str = "https://api4.thetvdb.com/v4"
    tvdb_artwork_url: str = "https://artworks.thetvdb.com"
    hardcover_api_key: Secret | None = None
    hardcover_graphql_url: str = "https://api.hardcover.app/v1/graphql"
    replicate_api_token: Secret | None = None
    replicate_base_url: str = "https://api.replicate.com/v1"
    replicate_model: str = "black-forest-labs/flux-schnell"
    duckduckgo_url: str = "https://duckduckgo.com"
    web_search_enabled: bool = True
    supabase_url: str | None = None
    supabase_key: Secret | None = None
    azure_connection_string: Secret | None = None
    postgres_dsn: Secret | None = None
    # The store in PostgreSQL instead of the SQLite file (a Secret: the URL holds a password).
    database_url: Secret | None = None
    http_timeout: float = 10.0
    serpapi_api_key: Secret | None = None
    serpapi_url: str = "https://serpapi.com"
    lumaai_api_key: Secret | None = None
    lumaai_api_url: str = "https://api.lumalabs.ai/dream-machine/v1"
    gemini_api_key: Secret | None = None
    gemini_api_url: str = "https://generativelanguage.googleapis.com/v1beta"
    gemini_model: str = "gemini-2.5-flash-image"
    vision_url: str | None = None
    vision_model: str | None = None
    vision_api_key: Secret | None = None
    # Shared by every worker on every host when set (fleet/, store/redis_cache.py). A Secret: the
    # URL may carry a password; `config show` prints it with the password redacted.
    redis_url: Secret | None = None
    rates: Mapping[str, float] = field(default_factory=default_rates)
    bursts: Mapping[str, int] = field(default_factory=default_bursts)
    network: bool = True
    # The values of provider variables that have no typed field above (a provider added after
    # these fields), secrets wrapped: read them with `setting(name)`.
    extra: Mapping[str, str | Secret] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.home / DATABASE_FILE_NAME

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILE_NAME

    def secrets(self) -> list[str]:
        """Every configured secret value: used to scrub text before it is shown or stored."""
        from coverctl.sources.registry import variables

        values = [
            self.supabase_key,
            self.azure_connection_string,
            self.postgres_dsn,
            self.database_url,
            self.serpapi_api_key,
            self.lumaai_api_key,
            self.gemini_api_key,
            self.vision_api_key,
            *(self.setting(v.name) for v in variables() if v.secret),
        ]
        found = [v.reveal() for v in values if isinstance(v, Secret) and v]
        if self.redis_url:
            found.extend(url_passwords(self.redis_url.reveal()))
        if self.database_url:
            # A password libpq might quote on its own, without the rest of the URL.
            found.extend(url_passwords(self.database_url.reveal()))
        return found

    def setting(self, name: str) -> str | Secret | None:
        """A provider variable's value by name (None: unset): its typed field when it has one
        (sources/spec.Variable.field), else `extra`, where a provider added later finds its own
        variables without a Settings edit."""
        from coverctl.sources.registry import variable

        declared = variable(name)
        if declared is not None and declared.field is not None:
            value = getattr(self, declared.field)
            return value if isinstance(value, str | Secret) else None
        return self.extra.get(name)

    def with_rates(self, overrides: Mapping[str, float]) -> Settings:
        merged = dict(self.rates)
        merged.update(overrides)
        return replace(self, rates=merged)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default `os.environ`) and the config file."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env["COVERCTL_HOME"]).expanduser() if env.get("COVERCTL_HOME") else None
        home = home or default_home()
        values = {**read_config_file(home / CONFIG_FILE_NAME), **_non_empty(env)}

        def text(name: str, default: str | None = None) -> str | None:
            return values.get(name, default)

        def secret(name: str) -> Secret | None:
            value = values.get(name)
            return Secret(value) if value else None

        rates = default_rates()
        for name, value in values.items():
            if name.startswith("COVERCTL_RATE_"):
                rates[name.removeprefix("COVERCTL_RATE_").lower()] = _positive_float(name, value)

        defaults = cls(home=home)
        return cls(
            home=home,
            static_dir=Path(text("COVERCTL_STATIC_DIR", str(defaults.static_dir)) or "."),
            backend_url=_strip_slash(text("BACKEND_URL")),
            tmdb_api_key=secret("TMDB_API_KEY"),
            tmdb_api_url=_url(values, "TMDB_API_URL", defaults.tmdb_api_url),
            tmdb_image_base_url=_url(values, "TMDB_IMAGE_BASE_URL", defaults.tmdb_image_base_url),
            tvdb_api_key=secret("TVDB_API_KEY"),
            tvdb_pin=secret("TVDB_PIN"),
            tvdb_api_url=_url(values, "TVDB_API_URL", defaults.tvdb_api_url),
            tvdb_artwork_url=_url(values, "TVDB_ARTWORK_URL", defaults.tvdb_artwork_url),
            hardcover_api_key=secret("HARDCOVER_API_KEY"),
            hardcover_graphql_url=_url(
                values, "HARDCOVER_GRAPHQL_URL", defaults.hardcover_graphql_url
            ),
            replicate_api_token=secret("REPLICATE_API_TOKEN"),
            replicate_base_url=_url(values, "REPLICATE_BASE_URL", defaults.replicate_base_url),
            replicate_model=text("COVERCTL_REPLICATE_MODEL", defaults.replicate_model)
            or defaults.replicate_model,
            duckduckgo_url=_url(values, "DUCKDUCKGO_URL", defaults.duckduckgo_url),
            web_search_enabled=values.get("COVERCTL_WEB_SEARCH", "1").lower()
            not in {"0", "false", "no", "off"},
            supabase_url=_strip_slash(text("SUPABASE_URL")),
            supabase_key=secret("SUPABASE_KEY"),
            azure_connection_string=secret("AZURE_STORAGE_CONNECTION_STRING"),
            postgres_dsn=secret("COVERCTL_POSTGRES_DSN"),
            database_url=secret("COVERCTL_DATABASE_URL"),
            http_timeout=_positive_float(
                "COVERCTL_HTTP_TIMEOUT", values.get("COVERCTL_HTTP_TIMEOUT", "10")
            ),
            rates=rates,
            serpapi_api_key=secret("SERPAPI_API_KEY"),
            serpapi_url=_url(values, "SERPAPI_URL", defaults.serpapi_url),
            lumaai_api_key=secret("LUMAAI_API_KEY"),
            lumaai_api_url=_url(values, "LUMAAI_API_URL", defaults.lumaai_api_url),
            gemini_api_key=secret("GEMINI_API_KEY"),
            gemini_api_url=_url(values, "GEMINI_API_URL", defaults.gemini_api_url),
            gemini_model=text("COVERCTL_GEMINI_MODEL", defaults.gemini_model)
            or defaults.gemini_model,
            vision_url=_url(values, "COVERCTL_VISION_URL", "")
            if values.get("COVERCTL_VISION_URL")
            else None,
            vision_model=text("COVERCTL_VISION_MODEL"),
            vision_api_key=secret("COVERCTL_VISION_API_KEY"),
            redis_url=_redis_url(values),
            extra=_provider_extra(values),
        )

    def provider_urls(self) -> tuple[str, ...]:
        """The configured base URLs of the providers and image services.

        The network guard trusts their exact host and port for the pictures those providers
        list and the assets those services return (a local fake or an on-premise mirror may
        be on a private address); any other host of such a picture must be public. A provider
        whose pictures may be on any host (web search: strangers' pictures) lends none."""
        from coverctl.sources.registry import specs
        from coverctl.sources.spec import HostRule

        providers = (
            self.setting(variable.name)
            for spec in specs()
            if spec.hosts.rule is not HostRule.ANY
            for variable in spec.variables
            if variable.url
        )
        services = (self.serpapi_url, self.lumaai_api_url, self.gemini_api_url, self.vision_url)
        urls = dict.fromkeys(url for url in (*providers, *services) if isinstance(url, str) and url)
        return tuple(urls)

    def service_hosts(self) -> frozenset[str]:
        """Hosts of the configured image-service base URLs (SerpApi, Luma, Gemini, vision).

        Assets these services return from their own host (a fake or proxy on a private address
        in tests and on-premise setups) are downloaded like a configured provider's pictures;
        assets on any other host go through the network guard."""
        urls = [self.serpapi_url, self.lumaai_api_url, self.gemini_api_url, self.vision_url]
        return frozenset(host.lower() for url in urls if url and (host := urlsplit(url).hostname))


def config_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the config file is, without reading (or validating) anything in it."""
    env = os.environ if environ is None else environ
    home = Path(env["COVERCTL_HOME"]).expanduser() if env.get("COVERCTL_HOME") else default_home()
    return home / CONFIG_FILE_NAME


def validate_value(name: str, value: str) -> None:
    """UsageError/ConfigError when `value` is not acceptable for setting `name`."""
    import tempfile

    # A home that does not exist: only this one value is read, not the config file.
    scratch = Path(tempfile.gettempdir()) / "coverctl-validate-no-such-dir"
    Settings.from_env({"COVERCTL_HOME": str(scratch), name.upper(): value})


def parse_rates(spec: str) -> dict[str, float]:
    """Parse `tmdb=20,tvdb=10` (the `batch --rate` flag)."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--rate expects PROVIDER=N pairs such as tmdb=20, got {part!r}.")
        rates[name.strip().lower()] = _positive_float(f"--rate {name.strip()}", value.strip())
    return rates


def read_config_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the config file {path}: {type(exc).__name__}; "
            'fix it or delete it (it is a TOML file of NAME = "value" lines).'
        ) from None
    return {str(k).upper(): str(v) for k, v in data.items() if not isinstance(v, dict)}


def write_config_value(path: Path, name: str, value: str | None) -> None:
    """Set (or with value None, remove) one variable in the config file, readable by owner only."""
    name = name.upper()
    known_names = known_variables()
    if name not in known_names and not name.startswith("COVERCTL_RATE_"):
        known = ", ".join(sorted(known_names))
        raise UsageError(f"Unknown setting {name}; known settings: {known}.")
    values = read_config_file(path)
    if value is None:
        values.pop(name, None)
    else:
        values[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{key} = {json.dumps(val)}\n" for key, val in sorted(values.items()))
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.replace(tmp, path)


def _provider_extra(values: Mapping[str, str]) -> dict[str, str | Secret]:
    """The provider variables without a typed Settings field, read as their specs declare them
    (a secret wrapped, a URL checked); unset ones take the spec's default, if any."""
    from coverctl.sources.registry import variables

    extra: dict[str, str | Secret] = {}
    for declared in variables():
        name, value = declared.name, values.get(declared.name)
        if declared.field is not None or (value is None and declared.default is None):
            continue
        if declared.secret:
            if value:
                extra[name] = Secret(value)
        elif declared.url:
            extra[name] = _url(values, name, declared.default or "")
        else:
            extra[name] = value if value is not None else declared.default or ""
    return extra


def _non_empty(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if v != ""}


def _strip_slash(value: str | None) -> str | None:
    return value.rstrip("/") if value else None


def _url(values: Mapping[str, str], name: str, default: str) -> str:
    value = values.get(name, default).strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}.")
    return value


REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_url(values: Mapping[str, str]) -> Secret | None:
    value = values.get("COVERCTL_REDIS_URL", "").strip()
    if not value:
        return None
    if not value.startswith(REDIS_URL_SCHEMES):
        raise ConfigError(
            "COVERCTL_REDIS_URL must be a redis://, rediss:// or unix:// URL "
            "(e.g. redis://redis.internal:6379/0)."
        )
    return Secret(value)


def url_passwords(url: str) -> list[str]:
    """The passwords a URL carries (`user:password@`, or a `password=` query parameter)."""
    from urllib.parse import parse_qs

    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:
        return []
    found.extend(p for p in parse_qs(parts.query).get("password", []) if p)
    return found


def _positive_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise UsageError(f"{name} must be a finite number, got {value!r}.")
    if number <= 0:
        raise UsageError(f"{name} must be greater than zero, got {value!r}.")
    return number
