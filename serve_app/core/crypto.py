"""Envelope encryption of personal data and keyed blind indexes.

Each user row gets its own random 256-bit data key (DEK). Fields are sealed with AES-GCM under
the DEK, bound to the row id and field name as associated data. The DEK is stored wrapped
(AES-GCM) by a key-encryption key from a ``KeyProvider``; a KMS implements the same interface.
Login by email uses a blind index: HMAC-SHA256 of the normalised email under a key derived
from the master key, so equal emails match without the plaintext being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class KeyProvider(Protocol):
    """Wraps and unwraps data keys. ``key_id`` names the key-encryption key in use."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, key_id: str) -> bytes: ...


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of the master key for one purpose (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"cardvault/{purpose}".encode()).derive(
        master_key
    )


class LocalKeyProvider:
    """Key-encryption keys derived from the master key in settings.

    ``previous`` master keys stay able to unwrap data keys wrapped before a rotation.
    """

    def __init__(self, master_key: bytes, previous: dict[str, bytes] | None = None) -> None:
        self._keys = {_key_id(master_key): derive_key(master_key, "kek")}
        for kid, key in (previous or {}).items():
            self._keys[kid] = derive_key(key, "kek")
        self._current = _key_id(master_key)

    @property
    def key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes) -> bytes:
        return seal(self._keys[self._current], data_key, b"dek")

    def unwrap(self, wrapped: bytes, key_id: str) -> bytes:
        try:
            kek = self._keys[key_id]
        except KeyError:
            raise KeyError(f"unknown key-encryption key {key_id!r}") from None
        return open_sealed(kek, wrapped, b"dek")


def _key_id(master_key: bytes) -> str:
    return "local-" + hashlib.sha256(b"kid:" + master_key).hexdigest()[:16]


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)


class FieldCipher:
    """Seals and opens one row's fields under its data key."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    def new_data_key(self) -> tuple[bytes, bytes, str]:
        """Return (data_key, wrapped_data_key, key_id)."""
        data_key = AESGCM.generate_key(bit_length=256)
        return data_key, self.provider.wrap(data_key), self.provider.key_id

    def data_key(self, wrapped: bytes, key_id: str) -> bytes:
        return self.provider.unwrap(wrapped, key_id)

    @staticmethod
    def encrypt(data_key: bytes, row_id: str, field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return seal(data_key, value.encode(), f"{row_id}:{field}".encode())

    @staticmethod
    def decrypt(data_key: bytes, row_id: str, field: str, sealed: bytes | None) -> str | None:
        if sealed is None:
            return None
        return open_sealed(data_key, sealed, f"{row_id}:{field}".encode()).decode()


class BlindIndex:
    def __init__(self, master_key: bytes) -> None:
        self._key = derive_key(master_key, "blind-index")

    def email(self, email: str) -> str:
        return hmac.new(self._key, normalize_email(email).encode(), hashlib.sha256).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()
