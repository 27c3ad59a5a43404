"""AES-256-GCM sealing, compatible with the TS seed's pending-signup records."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datagems_core.secret_box import REGISTER_FAILURE_PURPOSE, SecretBox, SecretBoxError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_seal_and_open_round_trip():
    box = SecretBox(secret="s", purpose="p")
    sealed = box.seal("pässwörd")
    assert "pässwörd" not in sealed and sealed.count(".") == 2
    assert box.open(sealed) == "pässwörd"
    assert box.seal("x") != box.seal("x")  # a fresh IV each time


def test_open_reads_what_the_seed_wrote():
    # The seed: key = sha256(secret + ":datagen:register-failure:v1"), iv.tag.ciphertext
    key = hashlib.sha256(b"seed-secret:datagen:register-failure:v1").digest()
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, b"Gen3ratedPassw0", None)
    text = ".".join(_b64url(p) for p in (iv, sealed[-16:], sealed[:-16]))
    box = SecretBox(secret="seed-secret", purpose=REGISTER_FAILURE_PURPOSE)
    assert box.open(text) == "Gen3ratedPassw0"


@pytest.mark.parametrize("sealed", ["a.b", "not.base64!.x", ""])
def test_open_refuses_malformed(sealed):
    with pytest.raises(SecretBoxError):
        SecretBox(secret="s", purpose="p").open(sealed)


def test_open_refuses_another_key_or_purpose():
    sealed = SecretBox(secret="s", purpose="p").seal("x")
    for box in (SecretBox(secret="t", purpose="p"), SecretBox(secret="s", purpose="q")):
        with pytest.raises(SecretBoxError):
            box.open(sealed)
