"""cstore-auth users: canonical names, exact record strings, sign-in, bootstrap, soft delete."""

from __future__ import annotations

import json

import pytest

from datagems_core.accounts import users
from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, Conflict, Unauthorized
from datagems_core.store.memory import MemoryStore
from datagems_core.store.sqlite import SqliteStore
from tests.core.accounts.test_passwords import VECTORS


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        None,
        data_dir=tmp_path,
        auth_hkey=VECTORS["hkey"],
        auth_pepper=VECTORS["pepper"],
        bootstrap_admin_password="boot-pass",
    )


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Alice.Example", "alice.example"),
        ("  bob_2 ", "bob_2"),
        ("a-b", "a-b"),
        ("x" * 64, "x" * 64),
    ],
)
def test_canonical_username_trims_and_lowercases(raw, canonical):
    assert users.canonical_username(raw) == canonical


@pytest.mark.parametrize("raw", ["ab", "x" * 65, "bad name", "ünï", "a/b", ""])
def test_canonical_username_refuses_invalid(raw):
    with pytest.raises(BadRequest, match="invalid username"):
        users.canonical_username(raw)


async def test_authenticate_accepts_official_vectors_from_sqlite_store(settings, tmp_path):
    store = SqliteStore(path=tmp_path / "store.sqlite3")
    try:
        for entry in VECTORS["users"]:
            await store.hset(VECTORS["hkey"], entry["username"], entry["record"])
        for entry in VECTORS["users"]:
            name = entry["username"]
            password = VECTORS["passwords"][name]
            user = await users.authenticate(store, settings, f" {name.upper()} ", password)
            assert user.username == name
            assert user.role == json.loads(entry["record"])["role"]
            with pytest.raises(Unauthorized):
                await users.authenticate(store, settings, name, password + "x")
    finally:
        await store.close()


async def test_parse_user_round_trips_official_record_byte_for_byte():
    for entry in VECTORS["users"]:
        user = users.parse_user(entry["username"], entry["record"])
        assert user is not None
        assert user.to_record() == entry["record"]


async def test_create_user_stores_json_string_in_package_key_order(settings):
    store = MemoryStore()
    await users.create_user(store, settings, "Carol", "pw-1", metadata={"email": "c@x.io"})
    raw = await store.hget(settings.auth_hkey, "carol")
    assert isinstance(raw, str)
    record = json.loads(raw)
    assert list(record) == ["type", "password", "role", "metadata", "createdAt", "updatedAt"]
    assert record["type"] == "simple" and record["role"] == "user"
    assert record["metadata"] == {"email": "c@x.io"}
    assert record["createdAt"].endswith("Z") and len(record["createdAt"]) == 24
    assert (await users.authenticate(store, settings, "carol", "pw-1")).username == "carol"
    with pytest.raises(Conflict):
        await users.create_user(store, settings, "CAROL", "other")


@pytest.mark.parametrize(
    "value",
    [
        {"type": "simple"},  # an object, not a JSON string: TS reads "[object Object]"
        "not json",
        json.dumps({"type": "other", "role": "user", "createdAt": "", "updatedAt": ""}),
        json.dumps({"type": "simple", "role": "root", "createdAt": "", "updatedAt": ""}),
        json.dumps({"type": "simple", "role": "user", "createdAt": 1, "updatedAt": ""}),
        json.dumps(
            {
                "type": "simple",
                "role": "user",
                "password": {"algo": "x"},
                "createdAt": "",
                "updatedAt": "",
            }
        ),
    ],
)
def test_parse_user_refuses_what_the_package_refuses(value):
    assert users.parse_user("someone", value) is None


async def test_bootstrap_admin_creates_admin_once(settings):
    store = MemoryStore()
    assert await users.bootstrap_admin(store, settings)
    assert not await users.bootstrap_admin(store, settings)
    admin = await users.authenticate(store, settings, "admin", "boot-pass")
    assert admin.role == "admin"


async def test_ensure_mock_users_adds_seed_accounts(settings):
    store = MemoryStore()
    await users.ensure_mock_users(store, settings)
    assert (await users.authenticate(store, settings, "admin", "admin")).role == "admin"
    assert (await users.authenticate(store, settings, "test_user", "testtest")).role == "user"


async def test_mark_deleted_refuses_login_with_null_password(settings):
    store = MemoryStore()
    user = await users.create_user(store, settings, "dave", "pw-dave")
    await users.mark_deleted(store, settings, user, by="admin")
    record = json.loads(await store.hget(settings.auth_hkey, "dave"))
    assert record["password"] is None
    assert record["metadata"]["__datagemsDeleted"] is True
    assert record["metadata"]["__datagemsDeletedBy"] == "admin"
    with pytest.raises(Unauthorized):
        await users.authenticate(store, settings, "dave", "pw-dave")


async def test_authenticate_unknown_user_is_invalid_credentials(settings):
    with pytest.raises(Unauthorized, match="Invalid credentials"):
        await users.authenticate(MemoryStore(), settings, "nobody", "pw")
