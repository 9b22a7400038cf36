"""Application settings: one pydantic-settings model, prefix ``CARDVAULT_``, never read at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OIDCProvider(BaseSettings):
    """An external OAuth2/OIDC identity provider (authorization code + PKCE)."""

    name: str
    issuer: str
    client_id: str
    client_secret: SecretStr = SecretStr("")
    scopes: str = "openid email profile"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CARDVAULT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    log_level: str = "INFO"
    log_json: bool = True

    # public base URL used when building links (signed URLs, OIDC redirect URIs)
    public_url: str = "http://127.0.0.1:8000"

    # security
    master_key: SecretStr = SecretStr("")
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    jwt_issuer: str = "cardvault"
    jwt_key_rotation_s: int = 7 * 24 * 3600
    oidc_providers: list[OIDCProvider] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)

    # rate limits: token bucket capacity and refill per second
    rate_limit_ip_capacity: int = 300
    rate_limit_ip_refill_per_s: float = 20.0
    rate_limit_user_capacity: int = 600
    rate_limit_user_refill_per_s: float = 50.0
    rate_limit_login_capacity: int = 10
    rate_limit_login_refill_per_s: float = 0.1

    # images
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    signed_url_ttl_s: int = 900

    # serving
    ingress_min_replicas: int = 1
    ingress_max_replicas: int = 4
    ingress_max_ongoing_requests: int = 64
    ingress_num_cpus: float = 0.5
    demo_data: bool = True
    # price feeds (`cardvault prices fetch SOURCE`)
    tcgplayer_api_url: str = "https://api.tcgplayer.com"
    tcgplayer_client_id: str = ""
    tcgplayer_client_secret: SecretStr = SecretStr("")
    tcgplayer_category_ids: list[int] = Field(default_factory=lambda: [3, 62])  # Pokémon, Flesh and Blood
    ebay_api_url: str = "https://api.ebay.com"
    ebay_client_id: str = ""
    ebay_client_secret: SecretStr = SecretStr("")
    ebay_queries: list[str] = Field(default_factory=lambda: ["pokemon card", "flesh and blood card"])
    cardmarket_url: str = ""  # where the price guide, products and expansions JSON files are served
    # seconds between scheduled revaluations inside `cardvault serve`; 0 turns the schedule off
    revalue_interval_s: int = 6 * 3600
    # where `cardvault serve` finds the catalogs for the demo; default: ../shared/data beside the repo
    catalog_dir: Path | None = None
    # scans: jobs are leased by one replica at a time; a lease that runs out is resumed elsewhere
    scans_enabled: bool = True
    scan_lease_s: float = Field(default=120.0, gt=0)
    scan_max_attempts: int = Field(default=3, ge=1)
    scan_concurrency: int = Field(default=4, ge=1)
    scan_sweep_s: float = Field(default=5.0, gt=0)
    models_dir: Path | None = None  # default: the models/ folder shipped with the code
    models_device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda|tensorrt)$")
    # whether a card's art recognised against the reference index counts towards the GOOD tier
    # (``models.matching.agreeing``). The shipped index holds the renderer's faces, never a real card's
    # art: on photos of real cards only the name and the collector number read vouch for GOOD. True
    # for an index of photographed cards, or to scan photos drawn by the renderer (``cardvault evaluate``)
    art_vouches: bool = False

    def resolved_catalog_dir(self) -> Path:
        if self.catalog_dir is not None:
            return self.catalog_dir
        beside_repo = Path(__file__).resolve().parents[2] / "shared" / "data"
        return beside_repo if beside_repo.exists() else self.data_dir / "catalog"

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'cardvault.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def effective_master_key(self) -> bytes:
        """The 32-byte master key; in development a key file under data_dir is created once."""
        raw = self.master_key.get_secret_value()
        if raw:
            return _decode_key(raw)
        if self.environment == "production":
            raise RuntimeError("CARDVAULT_MASTER_KEY must be set in production")
        path = self.data_dir / "master.key"
        if not path.exists():
            import base64
            import os

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
            path.chmod(0o600)
        return _decode_key(path.read_text().strip())


def _decode_key(raw: str) -> bytes:
    import base64

    key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    if len(key) != 32:
        raise ValueError("the master key must be 32 bytes, url-safe base64 encoded")
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
