"""The one exception tree of coverctl. Each class carries the exit code the CLI maps it to.

Messages are short sentences for people: what went wrong and what to do. They never contain a
secret: build them from redacted values only.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INCOMPLETE = 3
    CONFIG = 4
    INTERRUPTED = 130


class CoverctlError(Exception):
    """Base of every error coverctl raises on purpose."""

    exit_code: int = ExitCode.UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(CoverctlError):
    """Bad flag value or unreadable input file."""

    exit_code = ExitCode.USAGE


class InvalidQuery(UsageError):
    """A query breaks a rule of `coverctl/validation.py` (the one validator): `field` names the
    field ("ids" for the ids) and `problem` what is wrong (validation.Problem)."""

    def __init__(self, message: str, *, field: str, problem: str) -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem


class InputRowError(CoverctlError):
    """One batch row is malformed; the batch records it and goes on."""

    exit_code = ExitCode.INCOMPLETE


class IdentityMismatch(CoverctlError):
    """The provider record an input id points at contradicts the row's own names (another
    character, another title): the row is reported as an error, never resolved by either."""

    exit_code = ExitCode.INCOMPLETE


class ConfigError(CoverctlError):
    """Missing or invalid configuration."""

    exit_code = ExitCode.CONFIG


class CredentialRejected(ConfigError):
    """A provider refused our key (401/403 after a retry where the protocol allows one)."""

    def __init__(self, provider: str, env_var: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"{provider} rejected the API key{extra}: check {env_var} "
            f"(run `coverctl doctor` to test it)."
        )
        self.provider = provider
        self.env_var = env_var


class ServiceUnreachable(ConfigError):
    """A service the user explicitly asked for (upload target, push database) is unreachable."""


class RedisUnavailable(ServiceUnreachable):
    """Redis (COVERCTL_REDIS_URL) cannot be reached, or stopped answering mid-run. Fatal: the
    shared rate limits live there, so a run never goes on unpaced without it."""


class BillingError(ConfigError):
    """A billed service refused the request for the account's plan, credit or quota."""


class ServiceFailed(ConfigError):
    """A service the user asked for directly (lens, animate, edit, identify) failed: server
    errors past the retries, a rate limit we could not wait out, or a reply we cannot read."""


class NoResult(CoverctlError):
    """A service answered, but with nothing usable: no match, a refusal, a failed job."""

    exit_code = ExitCode.INCOMPLETE


class ProviderError(CoverctlError):
    """A provider failed for this request; the cascade skips it and goes on."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderUnavailable(ProviderError):
    """Timeout, connection error, 5xx, open circuit or a rate limit we could not wait out."""


class ProviderResponseError(ProviderError):
    """The provider answered with something we cannot use (malformed JSON, unexpected shape)."""


class ResponseTooLarge(ProviderResponseError):
    """A response body was longer than the caller allowed; the download was cut off."""


class ImageRejected(CoverctlError):
    """An image failed validation (corrupt, too big, wrong format, too small)."""

    exit_code = ExitCode.INCOMPLETE


class AddressRefused(CoverctlError):
    """The network guard would not connect: the host is a local name, or an address it is or
    resolves to is not public. `kind` says which (LOCAL_NAME, LITERAL, RESOLVED), so a caller
    can say it in its own words (a link's status, a rejected picture)."""

    exit_code = ExitCode.INCOMPLETE
    LOCAL_NAME = "local_name"
    LITERAL = "literal"
    RESOLVED = "resolved"

    def __init__(self, message: str, *, host: str, kind: str) -> None:
        super().__init__(message)
        self.host = host
        self.kind = kind


class StoreError(CoverctlError):
    """The store (the SQLite file, or PostgreSQL) cannot be opened or written."""

    exit_code = ExitCode.CONFIG


class StoreUnavailable(StoreError):
    """The shared store's server cannot be reached, or the connection to it was lost: what was
    committed stays committed, and the run can continue once the server is back."""
