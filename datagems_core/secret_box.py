"""AES-256-GCM for secrets kept in the store (pending signup passwords, profile API keys).

The key is `sha256(session secret + ":" + purpose)`, one key per purpose. The sealed form is
`b64url(iv).b64url(tag).b64url(ciphertext)` with a 12-byte IV, exactly as the TS DataGems stores
a failed signup mail's password, so records it wrote still open here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REGISTER_FAILURE_PURPOSE: Final = "datagen:register-failure:v1"
PROFILE_API_KEY_PURPOSE: Final = "datagems:profile-api-key:v1"

_IV_BYTES = 12
_TAG_BYTES = 16


class SecretBoxError(ValueError):
    """The sealed text is malformed, or was sealed with another key (a changed session secret)."""


class SecretBox:
    """Seal and open short secrets with a key derived from the session secret.

    >>> box = SecretBox(secret="s3cret", purpose=PROFILE_API_KEY_PURPOSE)
    >>> box.open(box.seal("sk-123"))  # "sk-123"
    """

    def __init__(self, *, secret: str, purpose: str) -> None:
        key = hashlib.sha256(f"{secret}:{purpose}".encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, plaintext: str) -> str:
        iv = os.urandom(_IV_BYTES)
        sealed = self._aead.encrypt(iv, plaintext.encode(), None)
        ciphertext, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
        return ".".join(_b64url(part) for part in (iv, tag, ciphertext))

    def open(self, sealed: str) -> str:
        parts = sealed.split(".")
        if len(parts) != 3:
            raise SecretBoxError("sealed secret must have three dot-separated parts")
        try:
            iv, tag, ciphertext = (_unb64url(part) for part in parts)
            return self._aead.decrypt(iv, ciphertext + tag, None).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SecretBoxError("cannot decrypt: wrong key or damaged data") from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
