"""Password records in cstore-auth's format: the official package's vectors verify here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagems_core.accounts import passwords
from tests.support.processes import REPO

VECTORS_PATH = REPO.parent / "shared" / "spec" / "cstore-auth-vectors.json"


def load_vectors() -> dict:
    return json.loads(Path(VECTORS_PATH).read_text())


VECTORS = load_vectors()


@pytest.mark.parametrize("entry", VECTORS["users"], ids=lambda e: e["username"])
def test_verify_password_accepts_official_vectors(entry):
    record = json.loads(entry["record"])["password"]
    password = VECTORS["passwords"][entry["username"]]
    assert passwords.verify_password(password, record, pepper=VECTORS["pepper"])
    assert not passwords.verify_password(password + "x", record, pepper=VECTORS["pepper"])


def test_verify_password_needs_the_pepper():
    entry = VECTORS["users"][1]
    record = json.loads(entry["record"])["password"]
    password = VECTORS["passwords"][entry["username"]]
    assert not passwords.verify_password(password, record, pepper="another pepper")


def test_hash_password_writes_argon2id_record_in_package_format():
    record = passwords.hash_password("s3cret pass", pepper="p")
    assert list(record) == ["algo", "hash", "salt", "version", "params"]
    assert record["algo"] == "argon2id" and record["version"] == 1
    assert record["params"] == {
        "timeCost": 3,
        "memoryCost": 65536,
        "parallelism": 1,
        "outputLen": 32,
    }
    assert list(record["params"]) == ["timeCost", "memoryCost", "parallelism", "outputLen"]
    assert len(record["salt"]) == 24 and record["salt"].endswith("==")  # 16 bytes, padded
    assert passwords.verify_password("s3cret pass", record, pepper="p")
    assert not passwords.verify_password("s3cret pasS", record, pepper="p")


def test_hash_password_salts_every_hash():
    first = passwords.hash_password("same", pepper="p")
    second = passwords.hash_password("same", pepper="p")
    assert first["salt"] != second["salt"] and first["hash"] != second["hash"]


@pytest.mark.parametrize(
    "broken",
    [
        {"algo": "bcrypt"},
        {"salt": "not base64!"},
        {"params": {"timeCost": 3}},
        {"params": {"timeCost": 3, "memoryCost": 1 << 30, "parallelism": 1, "outputLen": 32}},
        {"params": "x"},
    ],
)
def test_verify_password_refuses_malformed_records(broken):
    record = {**passwords.hash_password("pw", pepper="p"), **broken}
    assert not passwords.verify_password("pw", record, pepper="p")


def test_verify_password_refuses_empty_password():
    record = passwords.hash_password("pw", pepper="p")
    assert not passwords.verify_password("", record, pepper="p")
