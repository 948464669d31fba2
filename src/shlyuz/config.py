"""Configuration: defaults < TOML file < ``SHLYUZ_*`` environment < command-line options.

The TOML file is given with ``--config FILE`` or ``SHLYUZ_CONFIG``; nested keys in the environment use ``__``
(``SHLYUZ_LIMITS__MAX_BODY_BYTES=1048576``). ``docs/configuration.md`` lists every setting.
"""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shlyuz.fixtures.models import Sender
from shlyuz.storage.base import Retention
from shlyuz.xml.safe import XmlLimits


def repo_path(name: str) -> Path:
    """A directory shipped beside the package in a source checkout (``schemas``, ``fixtures``)."""
    return Path(__file__).resolve().parents[2] / name


class Limits(BaseModel):
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest accepted request body")
    max_depth: int = Field(64, ge=8, le=256, description="deepest element nesting")
    max_elements: int = Field(100_000, ge=100, description="most elements in one document")

    def xml(self) -> XmlLimits:
        return XmlLimits(max_bytes=self.max_body_bytes, max_depth=self.max_depth, max_elements=self.max_elements)


class PkiSettings(BaseModel):
    enabled: bool = Field(True, description="set up the test PKI in DATA_DIR/pki on start and verify signatures")
    public_base_url: str | None = Field(
        None, description="base URL written into certificates (CRL, OCSP, CA issuers); default http://HOST:PORT"
    )
    trust_ca: list[Path] = Field(default_factory=list, description="extra trusted CA certificates (PEM), e.g. your own test CA")
    revocation_cache_ttl: float = Field(300.0, ge=0, description="seconds a revocation answer is reused")
    revocation_timeout: float = Field(5.0, gt=0, description="seconds to wait for an OCSP responder or a CRL")
    allow_sha1: bool = Field(False, description="accept RSA-SHA1 / SHA-1 digests in signatures")
    require_eku: bool = Field(True, description="refuse signer certificates without ExtendedKeyUsage")
    wsse_purpose: Literal["any", "sign", "auth"] = Field(
        "any", description="which certificate profile may make the WS-Security (transport) signature"
    )
    issue_fixture_identities: bool = Field(True, description="issue AUTH and SIGN certificates for every fixture person")


class JournalSettings(BaseModel):
    """Retention of the journal: the storage deletes what is beyond the limits, in small batches, on its own."""

    model_config = {"extra": "forbid"}

    max_rows: int = Field(1_000_000, ge=0, description="most exchanges kept; the oldest beyond are deleted (0: no limit)")
    max_age_days: float = Field(30, ge=0, le=36500, description="exchanges older than this are deleted (0: no limit)")
    sweep_interval: float = Field(5.0, gt=0, le=3600, description="seconds between retention sweeps, also when idle")
    sweep_batch: int = Field(100, ge=1, le=100_000, description="most rows deleted by one sweep transaction")

    def retention(self) -> Retention:
        return Retention(self.max_rows, timedelta(days=self.max_age_days) if self.max_age_days else None)


class ServicePolicy(BaseModel):
    """Per-serviceId signature rules."""

    model_config = {"extra": "forbid"}

    require_data_signature: bool = Field(False, description="the data payload must carry an enveloped signature")
    match_iin_field: str | None = Field(
        None, description="payload field whose value must equal the data signer's IIN (or BIN)"
    )


# --- pluggable systems (issue 4, item 7): a serviceId served by an external implementation -------------------------


class ExternalSystemSettings(BaseModel):
    """One serviceId forwarded to an integrator's own SHEP SyncChannel endpoint instead of the built-in mock."""

    model_config = {"extra": "forbid"}

    url: str = Field(description="the upstream's SyncChannel endpoint, e.g. http://127.0.0.1:9000/bip-sync/")
    timeout: float = Field(10.0, gt=0, le=600, description="seconds for the whole upstream exchange (connect, send, read)")
    require_signature: bool = Field(
        False, description="the upstream's reply must be signed (data signature; WS-Security when it carries no data)"
    )
    sign_requests: bool = Field(False, description="sign the forwarded request with the gateway identity (WS-Security)")
    max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest upstream reply accepted")
    sender_id: str | None = Field(None, description="senderId to send upstream; default: the original sender's")
    password: str | None = Field(None, description="password to send with sender_id; default: the original's")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from yarl import URL

        try:
            url = URL(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a URL ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{value!r} is not an absolute http:// or https:// URL")
        return value


class SystemsSettings(BaseModel):
    model_config = {"extra": "forbid"}

    external: dict[str, ExternalSystemSettings] = Field(
        default_factory=dict, description="serviceId → upstream; such a serviceId is no longer served by the mock"
    )


class AsyncParticipantSettings(BaseModel):
    """An async-channel participant outside shlyuz (an integrator's system): its senderId, the serviceIds it
    serves, and where SHEP pushes its messages (no push_url: it pulls them with getMessages)."""

    model_config = {"extra": "forbid"}

    participant_id: str = Field(min_length=1, description="its senderId on SHEP")
    service_ids: list[str] = Field(default_factory=list, description="REQUESTs to these serviceIds go to it")
    push_url: str | None = Field(
        None, pattern=r"^https?://", description="its IAsyncChannelClient endpoint (push delivery, status notifications)"
    )


class AsyncChannelSettings(BaseModel):
    """The SHEP async channel (/bip-async/): outside participants and the delivery policy (docs/async.md)."""

    model_config = {"extra": "forbid"}

    participants: list[AsyncParticipantSettings] = Field(default_factory=list, description="outside participants")
    max_attempts: int = Field(5, ge=1, le=1000, description="delivery attempts before NOT_DELIVERED")
    backoff_base: float = Field(1.0, gt=0, le=86400, description="seconds before the second attempt; doubles after")
    backoff_max: float = Field(300.0, gt=0, le=86400, description="longest wait between two attempts (seconds)")
    backoff_jitter: float = Field(0.2, ge=0, le=1, description="± this fraction of each wait, drawn at random")
    lease: float = Field(60.0, gt=0, le=86400, description="seconds a worker holds a claimed delivery")
    push_timeout: float = Field(10.0, gt=0, le=600, description="seconds to wait for a participant's endpoint")
    poll_interval: float = Field(1.0, gt=0, le=3600, description="longest idle sleep of the delivery loop")
    batch: int = Field(32, ge=1, le=1000, description="most deliveries one loop turn claims")
    delivery_loop: bool = Field(True, description="run the delivery loop in this process (tests drive it by hand)")


# --- the automatic provider (issue 4, item 4): rules deciding the provider inbox's items (docs/systems/rshep.md) --


class ProviderRule(BaseModel):
    """One rule: every given condition must hold; the first matching rule decides. ``manual``: wait in the inbox."""

    model_config = {"extra": "forbid"}

    name: str = Field("", description="shown in the inbox item and the log")
    system: str | None = Field(None, description="receiving participant: esobes, elicensing or arm-rshep")
    service: str | None = Field(None, description="service definition id, e.g. disabled-children-home-education")
    applicant: str | None = Field(None, pattern=r"^[0-9]{12}$", description="the applicant's IIN (or BIN)")
    person_tag: str | None = Field(None, description="a tag of the applicant (person or organisation) in the fixtures")
    sub_flow: str | None = Field(None, description="E-licensing sub-flow: issue, reissue, extend, intra-corporate-transfer")
    fields: dict[str, str] = Field(default_factory=dict, description="application fields that must have these values")
    action: Literal["approve", "refuse", "manual"]
    reason_code: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$", description="refusal ground")
    reason: str | None = Field(None, max_length=4000, description="the motivated refusal's text")


def _default_provider_rules() -> list[ProviderRule]:
    return [
        ProviderRule(name="deceased applicant", person_tag="deceased", action="refuse", reason_code="APPLICANT_DECEASED",
                     reason="The applicant is registered as deceased in the State Database of Individuals."),
        ProviderRule(name="incapable applicant", person_tag="incapable", action="refuse",
                     reason_code="APPLICANT_INCAPABLE",
                     reason="The applicant is declared legally incapable; the application is filed by their guardian."),
    ]  # fmt: skip


class ProviderSettings(BaseModel):
    """The provider behind the inbox: its authorised person, and the automatic provider's rules."""

    model_config = {"extra": "forbid"}

    bin: str = Field("001240876555", pattern=r"^[0-9]{12}$", description="the provider organisation (fixtures)")
    authorized_iin: str | None = Field(None, pattern=r"^[0-9]{12}$", description="who signs decisions; default: the head")
    rules: list[ProviderRule] = Field(default_factory=_default_provider_rules, description="first match decides")
    default: Literal["approve", "refuse", "manual"] = Field("manual", description="when no rule matches")
    default_reason_code: str = Field("GROUNDS_NOT_MET", description="refusal ground when default is refuse")
    default_reason: str = Field("The application does not meet the grounds of the Standard (item 10).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHLYUZ_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on (0: any free port)")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024,
        description="gateway processes sharing the port (SO_REUSEPORT); 1 serves in-process; default: CPU cores",
    )
    worker_recycle_rss_mb: float = Field(
        512.0, ge=0, le=1_000_000,
        description="a worker whose RSS grew by more than this many MiB since it started listening is replaced (0: never)",
    )
    data_dir: Path = Field(Path("var"), description="where the journal database and generated material live")
    database: str | None = Field(None, description="journal database path; default DATA_DIR/shlyuz.db")
    fixtures: list[Path] = Field(
        default_factory=lambda: [repo_path("fixtures")],
        description="fixture directories, later ones override earlier ones record by record",
    )
    extra_fixtures: list[Path] = Field(default_factory=list, description="directories loaded after `fixtures`")
    schemas_dir: Path = Field(default_factory=lambda: repo_path("schemas"), description="shlyuz's WSDL/XSD set")
    utc_offset_hours: int = Field(5, ge=-12, le=14, description="the gateway clock's zone; Kazakhstan is UTC+5")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    journal_bodies: bool = Field(True, description="store raw request and response bodies in the journal")
    journal: JournalSettings = Field(default_factory=JournalSettings)
    shutdown_timeout: float = Field(10.0, ge=0, description="seconds to finish in-flight requests on shutdown")
    limits: Limits = Field(default_factory=Limits)
    senders: list[Sender] = Field(default_factory=list, description="senders added to (or replacing) the fixtures'")
    pki: PkiSettings = Field(default_factory=PkiSettings)
    services: dict[str, ServicePolicy] = Field(default_factory=dict, description="signature rules per serviceId")
    sign_responses: Literal["wss-endpoint", "always", "never"] = Field(
        "wss-endpoint", description="when the gateway signs its responses with WS-Security"
    )
    systems_sign_data: bool = Field(True, description="GBD FL and ENIS sign their data with an enveloped signature")
    async_channel: AsyncChannelSettings = Field(default_factory=AsyncChannelSettings)
    systems: SystemsSettings = Field(default_factory=SystemsSettings, description="external systems per serviceId")
    provider: ProviderSettings = Field(default_factory=ProviderSettings, description="the provider inbox's automatic rules")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else self.data_dir / "shlyuz.db"

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    @property
    def fixture_dirs(self) -> list[Path]:
        return [*self.fixtures, *self.extra_fixtures]


class ConfigError(Exception):
    pass


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (from the command line) win over everything, ``None`` values are ignored."""
    from pydantic import ValidationError

    config_file = config_file or os.environ.get("SHLYUZ_CONFIG")
    cls: type[Settings] = Settings
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        cls = type("FileSettings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": str(path)}})
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    except Exception as exc:  # a TOML syntax error surfaces here
        raise ConfigError(f"invalid configuration: {exc}") from None
