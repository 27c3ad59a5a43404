"""Settings of where DataGems keeps its state: data dir, CStore, PostgreSQL, R1FS, this node."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from datagems_core.config.sources import env_names as _env


class StorageSettings(BaseModel):
    """Settings of where DataGems keeps its state: data dir, CStore, PostgreSQL, R1FS, this node."""

    # Where DataGems runs
    env: Literal["development", "production"] = Field(
        "development", validation_alias="DATAGEMS_ENV"
    )
    data_dir: Path = Field(Path(".datagems"), validation_alias="DATAGEMS_DATA_DIR")
    debug_raw: str = Field("", validation_alias="DATAGEN_DEBUG")

    # Ratio1 CStore (state). Host/port win over the URL, as in the seed.
    cstore_url: str | None = Field(
        None,
        validation_alias=_env("EE_CHAINSTORE_API_URL", "R1EN_CHAINSTORE_API_URL", "CSTORE_API_URL"),
    )
    cstore_host: str | None = Field(
        None, validation_alias=_env("EE_CHAINSTORE_API_HOST", "CSTORE_API_HOST")
    )
    cstore_port: int | None = Field(
        None, validation_alias=_env("EE_CHAINSTORE_API_PORT", "CSTORE_API_PORT")
    )
    chainstore_peers: list[str] = Field(
        default_factory=list, validation_alias=_env("R1EN_CHAINSTORE_PEERS", "EE_CHAINSTORE_PEERS")
    )
    cstore_timeout_seconds: float = Field(
        35.0, gt=0, validation_alias="DATAGEMS_CSTORE_TIMEOUT_SECONDS"
    )
    # Reads queue behind a write the node blocks on, so by default they get the write timeout.
    cstore_read_timeout_seconds: float | None = Field(
        None, gt=0, validation_alias="DATAGEMS_CSTORE_READ_TIMEOUT_SECONDS"
    )
    cstore_retries: int = Field(3, ge=0, validation_alias="DATAGEMS_CSTORE_RETRIES")
    cstore_accept_unconfirmed: bool = Field(
        False, validation_alias="DATAGEMS_CSTORE_ACCEPT_UNCONFIRMED"
    )
    mock_cstore: bool = Field(False, validation_alias="DATAGEN_MOCK_CSTORE")
    # Set by `datagems up` so its processes share one throwaway mock store (a file it deletes).
    mock_store_file: Path | None = Field(None, validation_alias="DATAGEMS_MOCK_STORE_FILE")

    # PostgreSQL (state and, without R1FS, files) for several machines without Ratio1.
    database_url: SecretStr | None = Field(None, validation_alias="DATAGEMS_DATABASE_URL")
    database_pool_size: int = Field(10, ge=1, validation_alias="DATAGEMS_DATABASE_POOL_SIZE")
    database_retries: int = Field(5, ge=0, validation_alias="DATAGEMS_DATABASE_RETRIES")
    # A running shard's lease (SQLite, PostgreSQL): renewed every third of it while it works.
    shard_lease_seconds: float = Field(30.0, ge=2, validation_alias="DATAGEMS_SHARD_LEASE_SECONDS")

    # Ratio1 R1FS (files)
    r1fs_url: str | None = Field(
        None, validation_alias=_env("EE_R1FS_API_URL", "R1EN_R1FS_API_URL", "R1FS_API_URL")
    )
    r1fs_host: str | None = Field(None, validation_alias=_env("EE_R1FS_API_HOST", "R1FS_API_HOST"))
    r1fs_port: int | None = Field(None, validation_alias=_env("EE_R1FS_API_PORT", "R1FS_API_PORT"))
    log_r1fs_calls: bool = Field(False, validation_alias="DATAGEN_LOG_R1FS_CALLS")
    r1fs_timeout_seconds: float = Field(
        120.0, gt=0, validation_alias="DATAGEMS_R1FS_TIMEOUT_SECONDS"
    )
    r1fs_retries: int = Field(3, ge=0, validation_alias="DATAGEMS_R1FS_RETRIES")

    # This node
    host_ip: str | None = Field(None, validation_alias=_env("R1EN_HOST_IP", "EE_HOST_IP"))
    host_addr: str | None = Field(None, validation_alias=_env("R1EN_HOST_ADDR", "EE_HOST_ADDR"))
    host_id: str | None = Field(None, validation_alias=_env("R1EN_HOST_ID", "EE_HOST_ID"))
