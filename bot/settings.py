"""Settings from the environment or ``.env`` (names are part of the external contract)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """One line naming the setting and what is wrong with it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite+aiosqlite:///./releasegate.db", alias="RELEASEGATE_DATABASE_URL")
    policy_path: Path = Field(default=Path("./policy.yml"), alias="RELEASEGATE_POLICY")
    releases_dir: Path = Field(default=Path("./releases"), alias="RELEASEGATE_RELEASES_DIR")
    api_token: str | None = Field(default=None, alias="RELEASEGATE_API_TOKEN")
    public_url: str | None = Field(default=None, alias="RELEASEGATE_PUBLIC_URL")
    port: int = Field(default=3000, alias="PORT", ge=1, le=65535)
    # Thumbnails, contact sheets and charts shown to approvers (content kept for the audit trail).
    artifacts_dir: Path = Field(default=Path("./artifacts"), alias="RELEASEGATE_ARTIFACTS_DIR")
    # Processes for Preview image diffs; 0 means one per CPU core.
    workers: int = Field(default=0, alias="RELEASEGATE_WORKERS", ge=0, le=64)
    # How often the timer loop looks for due work (seconds). Tests use fractions.
    tick_seconds: float = Field(default=2.0, alias="RELEASEGATE_TICK_SECONDS", gt=0)
    # How long a replica that died holding a timer or an outbox row keeps it before another takes over.
    timer_claim_timeout: float = Field(default=300.0, alias="RELEASEGATE_TIMER_CLAIM_TIMEOUT", gt=0)
    outbox_lease_seconds: float = Field(default=45.0, alias="RELEASEGATE_OUTBOX_LEASE_SECONDS", gt=0)
    # -- audit inspector --
    # Ed25519 private key (base64 of the 32-byte seed, PEM text or a PEM file path). Kept out of the
    # database on purpose: whoever can write the database must not be able to re-sign history.
    audit_signing_key: str | None = Field(default=None, alias="RELEASEGATE_AUDIT_SIGNING_KEY")
    audit_channel: str | None = Field(default=None, alias="RELEASEGATE_AUDIT_CHANNEL")
    checkpoint_every: int = Field(default=100, alias="RELEASEGATE_CHECKPOINT_EVERY", ge=1)
    checkpoint_minutes: float = Field(default=60.0, alias="RELEASEGATE_CHECKPOINT_MINUTES", gt=0)
    # HMAC key for inspector login links and session cookies; without it only the API token works.
    session_secret: str | None = Field(default=None, alias="RELEASEGATE_SESSION_SECRET")
    # "1" lets inspector cookies go without Secure on plain local HTTP (the demo, a laptop); never in production.
    insecure_cookies: bool = Field(default=False, alias="RELEASEGATE_INSECURE_COOKIES")
    # /release commands per person and per channel in any minute (0: no limit), per replica.
    commands_per_user: int = Field(default=20, alias="RELEASEGATE_COMMANDS_PER_USER_PER_MINUTE", ge=0)
    commands_per_channel: int = Field(default=60, alias="RELEASEGATE_COMMANDS_PER_CHANNEL_PER_MINUTE", ge=0)
    log_level: str = Field(default="INFO", alias="RELEASEGATE_LOG_LEVEL")
    log_format: str = Field(default="text", alias="RELEASEGATE_LOG_FORMAT")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        from bot.logs import LEVELS

        if v.upper() not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}")
        return v.upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, v: str) -> str:
        from bot.logs import FORMATS

        if v.lower() not in FORMATS:
            raise ValueError(f"must be one of {', '.join(FORMATS)}")
        return v.lower()

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v or None

    @field_validator("audit_signing_key")
    @classmethod
    def _signing_key(cls, v: str | None) -> str | None:
        if not v:
            return None
        from storage.checkpoints import KeyError_, load_private_key

        try:
            load_private_key(v)
        except KeyError_ as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v or None


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = str(first["loc"][0]) if first["loc"] else "settings"
        alias = Settings.model_fields[field_name].alias if field_name in Settings.model_fields else field_name
        msg = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {alias or field_name}: {msg}") from None
