"""Settings of the work: inference gateways, jobs, gates, sizes, prices and quotas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class WorkSettings(BaseModel):
    """Settings of the work: inference gateways, jobs, gates, sizes, prices and quotas."""

    # Inference gateway. Host/port win over the base URL, as in the seed.
    inference_host_raw: str = Field("$R1EN_HOST_IP", validation_alias="DATAGEN_INFERENCE_HOST")
    inference_port_raw: str = Field("$API_PORT", validation_alias="DATAGEN_INFERENCE_PORT")
    inference_base_url_raw: str | None = Field(None, validation_alias="DATAGEN_INFERENCE_BASE_URL")
    inference_flavour: Literal["auto", "openai", "ratio1"] = Field(
        "auto", validation_alias="DATAGEMS_INFERENCE_FLAVOUR"
    )
    inference_path: str | None = Field(None, validation_alias="DATAGEMS_INFERENCE_PATH")
    inference_model: str | None = Field(None, validation_alias="DATAGEMS_INFERENCE_MODEL")
    inference_api_key: SecretStr | None = Field(None, validation_alias="DATAGEMS_INFERENCE_API_KEY")
    mock_inference: bool = Field(False, validation_alias="DATAGEN_MOCK_INFERENCE_API")
    log_inference_requests: bool = Field(False, validation_alias="LOG_INFERENCE_REQUESTS")
    retry_inference_on_failure: bool = Field(False, validation_alias="RETRY_INFERENCE_ON_FAILURE")
    inference_max_attempts: int = Field(5, ge=1, validation_alias="DATAGEMS_INFERENCE_MAX_ATTEMPTS")
    inference_timeout_seconds: float = Field(
        120.0, gt=0, validation_alias="DATAGEMS_INFERENCE_TIMEOUT_SECONDS"
    )
    inference_concurrency: int = Field(16, ge=1, validation_alias="DATAGEMS_INFERENCE_CONCURRENCY")
    inference_max_concurrency: int = Field(
        256, ge=1, validation_alias="DATAGEMS_INFERENCE_MAX_CONCURRENCY"
    )
    inference_rpm: int | None = Field(None, ge=1, validation_alias="DATAGEMS_INFERENCE_RPM")
    mock_latency_ms: float = Field(0.0, ge=0, validation_alias="DATAGEMS_MOCK_LATENCY_MS")
    # Structured output: "auto" negotiates per gateway and model; a form name forces that form.
    structured_output: Literal[
        "auto", "json_schema", "json_object_schema", "json_object", "prompt"
    ] = Field("auto", validation_alias="DATAGEMS_STRUCTURED_OUTPUT")
    inference_input_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, validation_alias="DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK"
    )
    inference_output_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, validation_alias="DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK"
    )

    estimate_sample: int = Field(5, ge=1, le=100, validation_alias="DATAGEMS_ESTIMATE_SAMPLE")

    # Monthly quotas per user (admins set each user's own; these are the defaults, unset = none)
    quota_monthly_tokens: int | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_TOKENS"
    )
    quota_monthly_cost_usd: float | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_COST_USD"
    )
    quota_monthly_records: int | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_RECORDS"
    )

    # Jobs
    update_every_k: int = Field(50, ge=1, validation_alias="DATAGEN_UPDATE_EVERY_K_REQUESTS")
    record_tasks_max: int = Field(1000, ge=0, validation_alias="DATAGEMS_RECORD_TASKS_MAX")
    # Shards of a job not on Ratio1 peers (a job's `shards` overrides it); each shard runs on
    # any `datagems worker` of the pool, or in the job's own run without a pool.
    shards: int = Field(1, ge=1, le=64, validation_alias="DATAGEMS_SHARDS")
    # Shard runs one `datagems worker` takes at once, per job it may run (None: DATAGEMS_SHARDS,
    # every shard). A worker takes runs up to its limit when it polls, so the first to poll takes
    # a whole job; on W workers ceil(shards / W) spreads a job's shards over them.
    worker_shard_slots: int | None = Field(
        None, ge=1, le=64, validation_alias="DATAGEMS_WORKER_SHARD_SLOTS"
    )
    # A shard whose run crashed (its worker died) is run again this many times, then the job fails.
    shard_max_takeovers: int = Field(3, ge=0, validation_alias="DATAGEMS_SHARD_MAX_TAKEOVERS")
    # Flow runs of `datagems worker` / `datagems up` send a heartbeat this often (Prefect's
    # minimum is 30 s); `datagems deploy`'s automation crashes a run whose heartbeats stopped.
    heartbeat_seconds: int = Field(30, ge=30, validation_alias="DATAGEMS_HEARTBEAT_SECONDS")
    max_candidates_factor: float = Field(
        2.0, ge=1.0, le=100.0, validation_alias="DATAGEMS_MAX_CANDIDATES_FACTOR"
    )
    systemic_failure_limit: int = Field(8, ge=1, validation_alias="DATAGEMS_SYSTEMIC_FAILURE_LIMIT")
    max_records_per_job: int = Field(100_000, ge=1, validation_alias="DATAGEN_MAX_RECORDS_PER_JOB")
    max_reply_bytes: int = Field(4_194_304, ge=1024, validation_alias="DATAGEMS_MAX_REPLY_BYTES")
    max_record_bytes: int = Field(1_048_576, ge=256, validation_alias="DATAGEMS_MAX_RECORD_BYTES")
    max_string_length: int = Field(65_536, ge=16, validation_alias="DATAGEMS_MAX_STRING_LENGTH")
    max_records_page_bytes: int = Field(
        8_388_608, ge=1024, validation_alias="DATAGEMS_MAX_RECORDS_PAGE_BYTES"
    )
    max_external_api_configs: int = Field(
        10, ge=1, validation_alias="DATAGEN_MAX_EXTERNAL_API_CONFIGS"
    )
    allowed_inference_hosts: list[str] = Field(
        default_factory=list, validation_alias="DATAGEMS_ALLOWED_INFERENCE_HOSTS"
    )
