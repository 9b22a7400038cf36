"""The resources one replica holds: built in the FastAPI lifespan, never at import."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.cache import Cache, MemoryCache, RedisCache
from serve_app.core.crypto import BlindIndex, FieldCipher, LocalKeyProvider, derive_key
from serve_app.core.events import EventBus, MemoryEventBus, RedisEventBus
from serve_app.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from serve_app.core.storage import LocalStorage, ObjectStorage, S3Storage, URLSigner
from serve_app.db.engine import create_engine, session_factory
from serve_app.services.auth import TokenPolicy
from serve_app.services.catalog_search import NameIndex
from serve_app.services.scans import Scanner, ScanWorker
from serve_app.services.signing_keys import SigningKeys
from serve_app.services.users import Vault
from serve_app.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cache: Cache
    limiter: RateLimiter
    storage: ObjectStorage
    url_signer: URLSigner
    vault: Vault
    keys: SigningKeys
    tokens: TokenPolicy
    names: NameIndex
    events: EventBus
    redis: Redis | None = None
    scan_worker: ScanWorker | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def start_scans(self, scanner: Scanner) -> ScanWorker:
        """Run scan jobs on this replica through ``scanner`` and resume unfinished ones."""

        async def get() -> Scanner:
            return scanner

        self.scan_worker = ScanWorker(
            sessions=self.sessions, storage=self.storage, events=self.events, settings=self.settings, scanner=get
        )
        self.scan_worker.start()
        return self.scan_worker

    async def close(self) -> None:
        if self.scan_worker is not None:
            await self.scan_worker.stop()
        await self.cache.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def build_state(settings: Settings) -> AppState:
    master = settings.effective_master_key()
    engine = create_engine(settings.effective_database_url)
    sessions = session_factory(engine)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    signer = URLSigner(derive_key(master, "signed-urls"))
    storage: ObjectStorage
    if settings.s3_bucket:
        s3 = S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        )
        s3.ensure_bucket()
        storage = s3
    else:
        storage = LocalStorage(settings.data_dir / "objects", base_url=settings.public_url, signer=signer)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        cache=RedisCache(redis) if redis else MemoryCache(),
        limiter=RedisRateLimiter(redis) if redis else MemoryRateLimiter(),
        storage=storage,
        url_signer=signer,
        vault=Vault(cipher=FieldCipher(LocalKeyProvider(master)), index=BlindIndex(master)),
        keys=SigningKeys(
            sessions,
            master_key=master,
            issuer=settings.jwt_issuer,
            rotation_s=settings.jwt_key_rotation_s,
            access_ttl_s=settings.access_token_ttl_s,
        ),
        tokens=TokenPolicy(access_ttl_s=settings.access_token_ttl_s, refresh_ttl_s=settings.refresh_token_ttl_s),
        names=NameIndex(),
        events=RedisEventBus(redis) if redis else MemoryEventBus(),
        redis=redis,
    )
