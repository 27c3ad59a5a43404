"""Serve prefect.yaml's deployments on this machine with Prefect's Runner (what `datagems up` runs).

    python -m deployments.runner [--project-file prefect.yaml]

The deployments come from prefect.yaml, the one list; nothing here names a flow. The runner polls
every second so a run the API starts begins within about two seconds, runs each flow run in a
child process, and after registering the recurring-build deployment puts the saved DataGems
schedules back (registering a deployment replaces its schedules).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import (
    SCHEDULE_TYPES,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
)
from prefect.deployments.runner import RunnerDeployment
from prefect.runner import Runner

from datagems_core.config.settings import Settings, get_settings
from datagems_core.errors import ConfigError, DatagemsError
from datagems_core.logs import configure_logging
from deployments.parent_death import kill_own_group_on
from flows.launch import BUILD_RECURRING_DATASET, GENERATE_DATASET
from flows.schedules import sync_prefect_schedules

log = logging.getLogger("datagems.runner")

PROJECT_DIR = Path(__file__).resolve().parents[1]
QUERY_SECONDS = 1.0
JOB_FLOW = GENERATE_DATASET.partition("/")[0]
RECURRING_FLOW = BUILD_RECURRING_DATASET.partition("/")[0]
# A recurring build only creates a job and starts its generate-dataset run, so one slot is enough.
RECURRING_BUILD_SLOTS = 1


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of prefect.yaml's `deployments:`, as far as serving it locally needs."""

    name: str
    entrypoint: str
    description: str | None = None
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int | None = None
    schedules: tuple[dict[str, Any], ...] = ()
    enforce_parameter_schema: bool = True

    @property
    def entrypoint_file(self) -> str:
        return self.entrypoint.rpartition(":")[0]


def project_file(settings: Settings) -> Path:
    """prefect.yaml of the project: DATAGEMS_PROJECT_DIR's, else the one next to this package."""
    return (settings.project_dir or PROJECT_DIR).resolve() / "prefect.yaml"


def read_deployment_specs(path: Path) -> list[DeploymentSpec]:
    """Read the deployments of a prefect.yaml; ConfigError says what is wrong and where."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: run from the DataGems project") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path} lists no deployments under `deployments:`")
    return [_spec_from_entry(entry, path, position) for position, entry in enumerate(entries)]


def _spec_from_entry(entry: Any, path: Path, position: int) -> DeploymentSpec:
    where = f"{path}, deployments[{position}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(entry).__name__}")
    name, entrypoint = entry.get("name"), entry.get("entrypoint")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: `name` is missing")
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise ConfigError(f"{where}: `entrypoint` must look like flows/<module>.py:<flow function>")
    limit = entry.get("concurrency_limit")
    if isinstance(limit, dict):
        limit = limit.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{where}: `concurrency_limit` must be a positive integer")
    return DeploymentSpec(
        name=name,
        entrypoint=entrypoint,
        description=entry.get("description"),
        tags=tuple(str(tag) for tag in entry.get("tags") or ()),
        parameters=dict(entry.get("parameters") or {}),
        concurrency_limit=limit,
        schedules=tuple(entry.get("schedules") or ()),
        enforce_parameter_schema=bool(entry.get("enforce_parameter_schema", True)),
    )


def process_limit(settings: Settings) -> int:
    """How many flow-run processes this machine runs at once.

    The jobs themselves (DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE), plus, when a job is split
    over several peers (or DATAGEMS_SHARDS shards for any worker) and this runner also serves
    their shards, one run per shard (at most DATAGEMS_WORKER_SHARD_SLOTS), plus a recurring
    build. Shards of one machine run inside their job's process and take no slot.
    """
    peers = len(settings.chainstore_peers)
    # A worker may take every shard run of a job split over any worker (DATAGEMS_SHARDS), or
    # its share of them (DATAGEMS_WORKER_SHARD_SLOTS), which leaves the rest to other workers.
    any_worker = settings.shards if settings.shards > 1 else 0
    if settings.worker_shard_slots is not None:
        any_worker = settings.worker_shard_slots
    shard_runs = max(peers if peers > 1 else 0, any_worker)
    return settings.max_concurrent_jobs * (1 + shard_runs) + RECURRING_BUILD_SLOTS


def to_runner_deployment(
    spec: DeploymentSpec, *, project_dir: Path, settings: Settings
) -> RunnerDeployment:
    """Load the spec's flow from its entrypoint (relative to `project_dir`, the current dir)."""
    if not (project_dir / spec.entrypoint_file).is_file():
        raise ConfigError(
            f"deployment {spec.name!r}: {project_dir / spec.entrypoint_file} does not exist "
            f"(entrypoint {spec.entrypoint} in prefect.yaml); that flow is not written yet or "
            "the path is wrong"
        )
    try:
        deployment = RunnerDeployment.from_entrypoint(
            spec.entrypoint,
            name=spec.name,
            description=spec.description,
            tags=list(spec.tags),
            parameters=spec.parameters,
            schedules=[_schedule(s, spec) for s in spec.schedules] or None,
            enforce_parameter_schema=spec.enforce_parameter_schema,
        )
    except (ImportError, AttributeError, SyntaxError, ValueError) as exc:
        raise ConfigError(
            f"deployment {spec.name!r}: cannot load {spec.entrypoint}: {type(exc).__name__}: {exc}"
        ) from exc
    limit = spec.concurrency_limit
    if limit is None and deployment.flow_name == JOB_FLOW:
        limit = settings.max_concurrent_jobs
    deployment.concurrency_limit = limit
    return deployment


def _schedule(config: dict[str, Any], spec: DeploymentSpec) -> DeploymentScheduleCreate:
    """A prefect.yaml schedule entry (cron, interval or rrule, with timezone/active/parameters)."""
    timezone = config.get("timezone")
    schedule: SCHEDULE_TYPES
    if cron := config.get("cron"):
        schedule = CronSchedule(cron=cron, timezone=timezone)
    elif interval := config.get("interval"):
        seconds = timedelta(seconds=interval) if isinstance(interval, int | float) else interval
        schedule = IntervalSchedule(interval=seconds, timezone=timezone)
    elif rrule := config.get("rrule"):
        schedule = RRuleSchedule(rrule=rrule, timezone=timezone)
    else:
        raise ConfigError(f"deployment {spec.name!r}: a schedule needs cron, interval or rrule")
    return DeploymentScheduleCreate(
        schedule=schedule,
        active=bool(config.get("active", True)),
        parameters=dict(config.get("parameters") or {}),
        slug=config.get("slug"),
    )


async def serve_deployments(
    *, settings: Settings, project_file: Path, query_seconds: float = QUERY_SECONDS
) -> None:
    """Register prefect.yaml's deployments and run their flow runs here until stopped."""
    project_dir = project_file.resolve().parent
    specs = read_deployment_specs(project_file)
    # Entrypoints are relative to the project, and flow runs start in the runner's directory.
    os.chdir(project_dir)
    deployments = [
        to_runner_deployment(s, project_dir=project_dir, settings=settings) for s in specs
    ]
    runner = Runner(
        name="datagems-runner",
        query_seconds=query_seconds,
        limit=process_limit(settings),
        heartbeat_seconds=settings.heartbeat_seconds,
        # Stopping DataGems is not a reason to pause schedules the API owns.
        pause_on_shutdown=False,
    )
    for deployment in deployments:
        await runner.aadd_deployment(deployment)
        log.info("serving %s/%s", deployment.flow_name, deployment.name)
    if any(d.flow_name == RECURRING_FLOW for d in deployments):
        await _restore_schedules(settings)
    await runner.start()


async def _restore_schedules(settings: Settings) -> None:
    try:
        count = await sync_prefect_schedules(settings)
    except DatagemsError as exc:
        # The runner still serves jobs; the saved schedules come back at the next start.
        log.error("could not restore the saved schedules: %s", exc.message)
        return
    log.info("restored %d saved schedule(s) on %s", count, BUILD_RECURRING_DATASET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.runner", description=__doc__)
    parser.add_argument("--project-file", type=Path, help="prefect.yaml to serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # `datagems up` sends SIGHUP when it dies (parent_death): take the flow runs down too.
    kill_own_group_on(signal.SIGHUP)
    try:
        settings = get_settings()
        configure_logging(settings)
        asyncio.run(
            serve_deployments(
                settings=settings, project_file=args.project_file or project_file(settings)
            )
        )
    except ConfigError as exc:
        print(f"datagems runner: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
