"""Settings of the service: the API, the Prefect server it drives and the web pages."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class ServiceSettings(BaseModel):
    """Settings of the service: the API, the Prefect server it drives and the web pages."""

    # The API and the Prefect server it drives
    app_host_raw: str = Field("$R1EN_HOST_IP", validation_alias="DATAGEN_APP_HOST")
    app_port: int = Field(3000, ge=1, le=65535, validation_alias="DATAGEN_APP_PORT")
    app_url_raw: str | None = Field(None, validation_alias="DATAGEN_APP_URL")
    prefect_host: str = Field("127.0.0.1", validation_alias="DATAGEMS_PREFECT_HOST")
    prefect_port: int = Field(4200, ge=1, le=65535, validation_alias="DATAGEMS_PREFECT_PORT")
    prefect_api_url_raw: str | None = Field(None, validation_alias="PREFECT_API_URL")
    work_pool: str = Field("datagems", validation_alias="DATAGEMS_WORK_POOL")
    # Where prefect.yaml and flows/ are; workers run flows from here (prefect.yaml's pull step).
    project_dir: Path | None = Field(None, validation_alias="DATAGEMS_PROJECT_DIR")
    disable_worker: bool = Field(False, validation_alias="DATAGEN_DISABLE_WORKER")
    job_poll_seconds: float = Field(5, gt=0, validation_alias="DATAGEN_JOB_POLL_SECONDS")
    max_concurrent_jobs: int = Field(
        1, ge=1, validation_alias="DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE"
    )
    # A job whose flow-run process dies (kill -9, out of memory) resumes from its checkpoint in
    # a new run this many times, then fails with the reason.
    job_max_resumes: int = Field(3, ge=0, validation_alias="DATAGEMS_JOB_MAX_RESUMES")
    local_cache_dir_raw: Path | None = Field(None, validation_alias="DATAGEN_LOCAL_CACHE_DIR")
    active_poll_seconds: int = Field(10, ge=1, validation_alias="DATAGEN_ACTIVE_POLL_SECONDS")
    idle_poll_seconds: int = Field(30, ge=1, validation_alias="DATAGEN_IDLE_POLL_SECONDS")
    show_failures: bool = Field(True, validation_alias="NEXT_PUBLIC_SHOW_FAILURES")
    ui_test_preset: str | None = Field(None, validation_alias="NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET")
