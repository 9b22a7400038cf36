"""Object storage for images: a local folder by default, any S3-compatible service when set.

Both hand out time-limited signed URLs. Local URLs point back at the API
(``/api/v1/images/blob/...``) and carry an HMAC signature; S3 URLs are presigned by boto3.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError


class ObjectMissing(Exception):
    """No object is stored under the key."""


class ObjectStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    def presign_get(self, key: str, ttl_s: int) -> str: ...

    def presign_put(self, key: str, content_type: str, ttl_s: int) -> str: ...


def _safe_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    return key


class URLSigner:
    """HMAC signatures for local blob URLs: method, key and expiry are all covered."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, method: str, key: str, expires: int) -> str:
        msg = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def verify(self, method: str, key: str, expires: int, signature: str) -> bool:
        if expires < time.time():
            return False
        return hmac.compare_digest(self.signature(method, key, expires), signature)


class LocalStorage:
    def __init__(self, root: Path, *, base_url: str, signer: URLSigner) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _signed(self, method: str, key: str, ttl_s: int) -> str:
        expires = int(time.time()) + ttl_s
        query = urlencode({"expires": expires, "signature": self.signer.signature(method, key, expires)})
        return f"{self.base_url}/api/v1/images/blob/{quote(_safe_key(key))}?{query}"

    def presign_get(self, key: str, ttl_s: int) -> str:
        return self._signed("GET", key, ttl_s)

    def presign_put(self, key: str, content_type: str, ttl_s: int) -> str:
        return self._signed("PUT", key, ttl_s)


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.bucket = bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self.bucket)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=_safe_key(key), Body=data, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        try:
            response = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=_safe_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from None
            raise
        body: bytes = await asyncio.to_thread(response["Body"].read)
        return body

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=_safe_key(key))

    def presign_get(self, key: str, ttl_s: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": _safe_key(key)}, ExpiresIn=ttl_s
        )
        return url

    def presign_put(self, key: str, content_type: str, ttl_s: int) -> str:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": _safe_key(key), "ContentType": content_type},
            ExpiresIn=ttl_s,
        )
        return url
