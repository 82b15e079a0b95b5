"""config.toml + environment → one frozen `Settings`.

Every key has a default here, is overridable in config.toml, and then by env `LITWATCH_<SECTION>__<KEY>`.
Unknown sections/keys (in the file or in a `LITWATCH_<SECTION>__<KEY>` variable) and wrong or invalid values are
errors naming where the value came from — the file and the key, or the environment variable — because a typo in
an unattended job's config must fail loudly rather than silently fall back to a default. With no config file at
all, an error says so and how to point at one. Secrets (NCBI API key, SMTP password) come from the environment
only; finding one in the file is allowed but warned about.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .crossref.client import CROSSREF_BASE_URL
from .errors import ConfigError
from .ncbi import NCBI_BASE_URL
from .registry.client import REGISTRY_BASE_URL

log = logging.getLogger(__name__)

ENV_PREFIX = "LITWATCH_"
NO_FILE = "<defaults>"  # Settings.source when no config file was read

# (section, key) → where its value came from, when not the built-in default: a file or an environment variable
_Origins = dict[tuple[str, str], str]


@dataclass(frozen=True)
class NcbiSettings:
    base_url: str = NCBI_BASE_URL
    email: str = ""
    tool: str = "litwatch"
    api_key: str | None = None  # env NCBI_API_KEY only
    batch_size: int = 500
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_attempts: int = 6  # per request, the first one included
    backoff_base: float = 1.0
    overlap_days: int = 14
    first_run_days: int = 90
    requests_per_second: float = 0.0  # 0: NCBI's rule (3/s, 10/s with a key); more only off NCBI (replay server)
    max_in_flight: int = 2  # efetch requests in flight at once, all within the rate limit

    @property
    def rate(self) -> float:
        return self.requests_per_second or (10.0 if self.api_key else 3.0)


@dataclass(frozen=True)
class CrossrefSettings:
    """Crossref's REST API: every run asks it about each cited study's DOI (retractions, concerns, corrections)."""

    base_url: str = CROSSREF_BASE_URL
    enabled: bool = True
    requests_per_second: float = 5.0  # Crossref's polite pool allows more; a run asks once per cited study


@dataclass(frozen=True)
class RegistrySettings:
    """ClinicalTrials.gov API v2 (the trial registry watch; pipeline.registry)."""

    base_url: str = REGISTRY_BASE_URL
    enabled: bool = True
    requests_per_second: float = 1.0  # the registry publishes no limit: one request a second is polite
    overlap_days: int = 7  # each run re-asks this many days before the registry watermark
    first_run_days: int = 90
    max_attempts: int = 5
    backoff_base: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


@dataclass(frozen=True)
class StorageSettings:
    url: str = ""  # empty: SQLite file <data_dir>/litwatch.sqlite
    data_dir: str = "data"


@dataclass(frozen=True)
class PathSettings:
    queries: str = "queries"


@dataclass(frozen=True)
class RunSettings:
    lock_stale_seconds: float = 900.0
    heartbeat_seconds: float = 30.0


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str = "UTC"
    fetch: str = "0 6 * * *"
    digest: str = "0 7 * * 1"
    misfire_grace_seconds: int = 3600
    fetch_interval_days: float = 1.0  # how often fetch is expected to succeed; `status` is unhealthy after 2x
    zero_result_days: int = 28  # a query with no hits for this long is flagged in `status` and the digest


@dataclass(frozen=True)
class DigestSettings:
    out_dir: str = "digests"
    formats: tuple[str, ...] = ("html", "md", "json", "atom")
    feed_url: str = "https://example.org/litwatch/feed.atom"
    default_days: int = 7


@dataclass(frozen=True)
class MailSettingsConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "starttls"  # none | starttls | ssl
    username: str = ""
    password: str | None = None  # env LITWATCH_MAIL__PASSWORD only
    sender: str = "litwatch@localhost"
    recipients: tuple[str, ...] = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class WebSettings:
    """`litwatch serve` (the editor console; docs/console.md)."""

    secret_key: str | None = None  # env LITWATCH_WEB__SECRET_KEY only; unset: generated once in <data_dir>
    proxies: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto (trusted for https and addresses)


@dataclass(frozen=True)
class Settings:
    source: str  # the config file read (or "<defaults>")
    base_dir: Path  # relative paths in the config are relative to this
    ncbi: NcbiSettings = field(default_factory=NcbiSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    run: RunSettings = field(default_factory=RunSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    mail: MailSettingsConfig = field(default_factory=MailSettingsConfig)
    crossref: CrossrefSettings = field(default_factory=CrossrefSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    web: WebSettings = field(default_factory=WebSettings)
    warnings: tuple[str, ...] = ()

    @property
    def database_url(self) -> str:
        if self.storage.url:
            return self.storage.url
        return f"sqlite:///{self.resolve(self.storage.data_dir) / 'litwatch.sqlite'}"

    @property
    def queries_dir(self) -> Path:
        return self.resolve(self.paths.queries)

    @property
    def digest_dir(self) -> Path:
        return self.resolve(self.digest.out_dir)

    @property
    def cache_dir(self) -> Path:
        return self.resolve(self.storage.data_dir) / "cache"

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def with_overrides(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some keys replaced, e.g. `with_overrides(ncbi={"base_url": url})` (used by the demo)."""
        changes = {name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()}
        return dataclasses.replace(self, **changes)


_SECTIONS: dict[str, type] = {
    "ncbi": NcbiSettings,
    "storage": StorageSettings,
    "paths": PathSettings,
    "run": RunSettings,
    "schedule": ScheduleSettings,
    "digest": DigestSettings,
    "mail": MailSettingsConfig,
    "crossref": CrossrefSettings,
    "registry": RegistrySettings,
    "web": WebSettings,
}
# Secrets: readable from env only; `(section, key)` → env variable names tried in order.
_SECRETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ncbi", "api_key"): ("NCBI_API_KEY", "LITWATCH_NCBI__API_KEY"),
    ("mail", "password"): ("LITWATCH_MAIL__PASSWORD", "SMTP_PASSWORD"),
    ("web", "secret_key"): ("LITWATCH_WEB__SECRET_KEY",),
}
# Keys renamed since a release: `(section, old key)` → new key. The old name is refused with a pointer to the new
# one rather than reported as merely unknown.
_RENAMED: dict[tuple[str, str], str] = {
    ("ncbi", "max_retries"): "max_attempts",  # it always counted attempts (the first one included), not retries
}


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, *, contact_required: bool = True
) -> Settings:
    """Read `path` (default: $LITWATCH_CONFIG or ./config.toml if it exists), then env overrides, then validate.

    `contact_required=False` is for commands that never reach NCBI (the demo talks to its own local server):
    a missing `[ncbi] email` is then not an error."""
    env = os.environ if env is None else env
    if path is None and env.get("LITWATCH_CONFIG"):
        path = Path(env["LITWATCH_CONFIG"])
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    raw: dict[str, Any] = {}
    source = NO_FILE
    base_dir = Path.cwd()
    if path is not None:
        source = str(path)
        base_dir = path.resolve().parent
        raw = _read_toml(path)
    _check_env_sections(env)
    warnings: list[str] = []
    sections: dict[str, Any] = {}
    origins: _Origins = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(source, f"[{name}]", f"unknown section (known: {', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(source, name, "must be a [section] table")
    for name, cls in _SECTIONS.items():
        values = dict(raw.get(name, {}))
        for key in values:
            if (name, key) in _SECRETS:
                warnings.append(
                    f"{source}: [{name}] {key} is a secret and belongs in the environment "
                    f"({_SECRETS[(name, key)][0]}), not in the file"
                )
        sections[name] = _build_section(cls, name, values, source, env, origins)
    settings = Settings(source=source, base_dir=base_dir, warnings=tuple(warnings), **sections)
    _validate(settings, _Where(source, origins), contact_required=contact_required)
    for warning in warnings:
        log.warning("%s", warning)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror}") from None


def _check_env_sections(env: Mapping[str, str]) -> None:
    """`LITWATCH_<SECTION>__<KEY>` naming no section is a typo (LITWATCH_REGSITRY__BASE_URL), refused like an
    unknown key rather than silently ignored. Variables without `__` (LITWATCH_CONFIG, LITWATCH_LOGLEVEL) are
    not overrides and are left alone."""
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        section = var[len(ENV_PREFIX):].split("__", 1)[0].lower()
        if section not in _SECTIONS:
            raise ConfigError(var, None, f"unknown section {section!r} (known: {', '.join(_SECTIONS)})")


def _build_section(
    cls: type, name: str, values: dict[str, Any], source: str, env: Mapping[str, str], origins: _Origins
) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if (name, key) in _RENAMED:
            raise ConfigError(source, f"[{name}] {key}", f"was renamed to {_RENAMED[(name, key)]}")
        if key not in fields:
            raise ConfigError(source, f"[{name}] {key}", f"unknown key (known: {', '.join(fields)})")
        kwargs[key] = _coerce(fields[key], value, source, f"[{name}] {key}", from_env=False)
        origins[(name, key)] = source
    for key, f in fields.items():
        var = f"{ENV_PREFIX}{name.upper()}__{key.upper()}"
        if var in env:
            kwargs[key] = _coerce(f, env[var], var, "", from_env=True)
            origins[(name, key)] = var
        for secret_var in _SECRETS.get((name, key), ()):
            if env.get(secret_var):
                kwargs[key] = env[secret_var]
                origins[(name, key)] = secret_var
                break
    prefix = f"{ENV_PREFIX}{name.upper()}__"
    for var in env:
        if not var.startswith(prefix):
            continue
        key = var[len(prefix):].lower()
        if (name, key) in _RENAMED:
            raise ConfigError(var, None, f"was renamed to {prefix}{_RENAMED[(name, key)].upper()}")
        if key not in fields:
            raise ConfigError(var, None, f"unknown key {key!r} in [{name}]")
    return cls(**kwargs)


def _coerce(f: dataclasses.Field[Any], value: Any, where: str, key: str, *, from_env: bool) -> Any:
    """Check (file) or convert (env strings) a value to the field's declared type."""
    declared = str(f.type)
    try:
        if declared.startswith("tuple"):
            if from_env:
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError("a list of strings")
            return tuple(value)
        if declared == "bool":
            if from_env:
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise TypeError("true or false")
                return lowered in {"1", "true", "yes", "on"}
            if not isinstance(value, bool):
                raise TypeError("true or false")
            return value
        if declared == "int":
            if from_env:
                return int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("an integer")
            return value
        if declared == "float":
            if from_env:
                return float(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError("a number")
            return float(value)
        if not isinstance(value, str):
            raise TypeError("a string")
        return value
    except (TypeError, ValueError) as exc:
        expected = str(exc) if isinstance(exc, TypeError) else f"a value of type {declared}"
        raise ConfigError(where, key or None, f"must be {expected}, got {value!r}") from None


class _Where:
    """Names where a key's value came from in an error: the variable that set it, else the file and the key, else
    (no file at all) says that no config file was found and how to point at one."""

    def __init__(self, source: str, origins: _Origins) -> None:
        self.source = source
        self.origins = origins

    def error(self, section: str, key: str, problem: str) -> ConfigError:
        origin = self.origins.get((section, key), self.source)
        if origin.startswith(ENV_PREFIX) or origin in {v for vs in _SECRETS.values() for v in vs}:
            return ConfigError(origin, None, problem)
        if origin == NO_FILE:
            return ConfigError(
                f"no config file (no config.toml in {Path.cwd()}; point at one with --config PATH or "
                "LITWATCH_CONFIG)", f"[{section}] {key}", problem,
            )
        return ConfigError(origin, f"[{section}] {key}", problem)


def _validate(s: Settings, where: _Where, *, contact_required: bool = True) -> None:
    err = where.error
    if not s.ncbi.base_url.startswith(("http://", "https://")):
        raise err("ncbi", "base_url", f"must be an http(s) URL, got {s.ncbi.base_url!r}")
    if "@" not in s.ncbi.email and (contact_required or s.ncbi.email):
        raise err("ncbi", "email",
                  "NCBI requires a contact e-mail on every request; set it in the file or LITWATCH_NCBI__EMAIL")
    if not 0 < s.run.heartbeat_seconds < s.run.lock_stale_seconds:
        raise err("run", "heartbeat_seconds",
                  f"must be positive and shorter than lock_stale_seconds ({s.run.lock_stale_seconds:g})")
    try:
        ZoneInfo(s.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise err("schedule", "timezone",
                  f"unknown time zone {s.schedule.timezone!r} (use an IANA name such as Asia/Kuala_Lumpur)") from None
    ncbi_limit = 10.0 if s.ncbi.api_key else 3.0
    if s.ncbi.base_url.startswith(NCBI_BASE_URL[:30]) and s.ncbi.rate > ncbi_limit:
        raise err("ncbi", "requests_per_second",
                  f"NCBI allows at most {ncbi_limit:g} requests/s {'with' if s.ncbi.api_key else 'without'} "
                  "an API key")
    if not 1 <= s.ncbi.batch_size <= 10000:
        raise err("ncbi", "batch_size", f"must be between 1 and 10000, got {s.ncbi.batch_size}")
    if not 1 <= s.ncbi.max_in_flight <= 10:
        raise err("ncbi", "max_in_flight", f"must be between 1 and 10, got {s.ncbi.max_in_flight}")
    for key in ("overlap_days", "first_run_days"):
        if getattr(s.ncbi, key) < 0:
            raise err("ncbi", key, "must not be negative")
    if s.ncbi.max_attempts < 1:
        raise err("ncbi", "max_attempts", f"must be at least 1, got {s.ncbi.max_attempts}")
    if not s.crossref.base_url.startswith(("http://", "https://")):
        raise err("crossref", "base_url", f"must be an http(s) URL, got {s.crossref.base_url!r}")
    if s.crossref.requests_per_second <= 0:
        raise err("crossref", "requests_per_second", f"must be positive, got {s.crossref.requests_per_second:g}")
    if not s.registry.base_url.startswith(("http://", "https://")):
        raise err("registry", "base_url", f"must be an http(s) URL, got {s.registry.base_url!r}")
    if s.registry.requests_per_second <= 0:
        raise err("registry", "requests_per_second", "must be positive")
    if s.mail.security not in {"none", "starttls", "ssl"}:
        raise err("mail", "security", f"must be none, starttls or ssl, got {s.mail.security!r}")
    if s.mail.enabled and not s.mail.recipients:
        raise err("mail", "recipients", "mail is enabled but no recipients are set")
    unknown = set(s.digest.formats) - {"html", "md", "json", "atom"}
    if unknown:
        raise err("digest", "formats", f"unknown format(s) {sorted(unknown)}; use html, md, json, atom")
