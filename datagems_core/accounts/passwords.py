"""Password hashing in `@ratio1/cstore-auth-ts`' exact format, so TS apps and we accept each other's users.

argon2id (t=3, m=64 MiB, p=1, 32 bytes, 16-byte salt) with the pepper as Argon2's secret key K;
scrypt records (N=32768, r=8, p=1, salt || pepper) verify too. Hash and salt are standard base64
with padding. Each hash costs about 100 ms of CPU and 64 MiB of memory: the async wrappers run it
on a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from typing import Final

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from passlib.utils import consteq

from datagems_core.store.base import JSONValue

ARGON2_PARAMS: Final = {"timeCost": 3, "memoryCost": 65536, "parallelism": 1, "outputLen": 32}
SALT_BYTES: Final = 16
RECORD_VERSION: Final = 1

# Bounds on what a stored record may ask us to compute, so a corrupt or hostile record cannot
# make one login take minutes or gigabytes.
_MAX_ARGON2_MEMORY_KIB = 1 << 20
_MAX_ARGON2_TIME = 16
_MAX_SCRYPT_N = 1 << 20
_MAX_OUTPUT = 128


def hash_password(password: str, *, pepper: str) -> dict[str, JSONValue]:
    """A fresh argon2id password record (the `password` member of a cstore-auth user record)."""
    if not password:
        raise ValueError("password must be a non-empty string")
    salt = os.urandom(SALT_BYTES)
    digest = _argon2id(password, salt=salt, pepper=pepper, params=ARGON2_PARAMS)
    return {
        "algo": "argon2id",
        "hash": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "version": RECORD_VERSION,
        "params": dict(ARGON2_PARAMS),
    }


def verify_password(password: str, record: Mapping[str, JSONValue], *, pepper: str) -> bool:
    """Recompute with the record's own algorithm and parameters; False for anything malformed."""
    if not password:
        return False
    try:
        salt = base64.b64decode(str(record["salt"]), validate=True)
        expected = base64.b64decode(str(record["hash"]), validate=True)
        params = record["params"]
        if not isinstance(params, Mapping):
            return False
        if record["algo"] == "argon2id":
            actual = _argon2id(password, salt=salt, pepper=pepper, params=params)
        elif record["algo"] == "scrypt":
            actual = _scrypt(password, salt=salt, pepper=pepper, params=params)
        else:
            return False  # cstore-auth's PasswordHasherUnavailable ends as invalid credentials
    except (KeyError, TypeError, ValueError, binascii.Error, MemoryError):
        return False
    # passlib's consteq: the comparison time does not depend on where the bytes differ.
    return bool(consteq(actual, expected))


async def hash_password_async(password: str, *, pepper: str) -> dict[str, JSONValue]:
    return await asyncio.to_thread(hash_password, password, pepper=pepper)


async def verify_password_async(
    password: str, record: Mapping[str, JSONValue], *, pepper: str
) -> bool:
    return await asyncio.to_thread(verify_password, password, record, pepper=pepper)


def burn_verification_time(password: str, *, pepper: str) -> None:
    """Do the work of one argon2id verification, so a missing user costs what a wrong password does."""
    _argon2id(password or "-", salt=b"\0" * SALT_BYTES, pepper=pepper, params=ARGON2_PARAMS)


def _int_param(params: Mapping[str, JSONValue], name: str, *, low: int, high: int) -> int:
    value = params[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"password parameter {name} out of range")
    return value


def _argon2id(password: str, *, salt: bytes, pepper: str, params: Mapping[str, JSONValue]) -> bytes:
    # argon2-cffi's high-level API and passlib's argon2 handler take no secret key K, and
    # cstore-auth keys the hash with the pepper as K. cryptography's Argon2id does take `secret`.
    kdf = Argon2id(
        salt=salt,
        length=_int_param(params, "outputLen", low=16, high=_MAX_OUTPUT),
        iterations=_int_param(params, "timeCost", low=1, high=_MAX_ARGON2_TIME),
        lanes=_int_param(params, "parallelism", low=1, high=16),
        memory_cost=_int_param(params, "memoryCost", low=8, high=_MAX_ARGON2_MEMORY_KIB),
        secret=pepper.encode(),
    )
    return kdf.derive(password.encode())


def _scrypt(password: str, *, salt: bytes, pepper: str, params: Mapping[str, JSONValue]) -> bytes:
    n = _int_param(params, "N", low=2, high=_MAX_SCRYPT_N)
    r = _int_param(params, "r", low=1, high=32)
    p = _int_param(params, "p", low=1, high=16)
    length = _int_param(params, "keyLength", low=16, high=_MAX_OUTPUT)
    # Node's crypto.scrypt allows 32 MiB; N=32768, r=8 needs exactly that, so allow headroom.
    maxmem = 128 * n * r * p + (64 << 20)
    return hashlib.scrypt(
        password.encode(), salt=salt + pepper.encode(), n=n, r=r, p=p, dklen=length, maxmem=maxmem
    )
