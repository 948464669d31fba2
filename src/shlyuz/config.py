"""Configuration: defaults < TOML file < ``SHLYUZ_*`` environment < command-line options.

The TOML file is given with ``--config FILE`` or ``SHLYUZ_CONFIG``; nested keys in the environment use ``__``
(``SHLYUZ_LIMITS__MAX_BODY_BYTES=1048576``). ``docs/configuration.md`` lists every setting.
"""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHLYUZ_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on (0: any free port)")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024,
        description="gateway processes sharing the port (SO_REUSEPORT); 1 serves in-process; default: CPU cores",
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
