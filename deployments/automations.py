"""The Prefect automations `datagems deploy` installs: a dead worker's runs end, a dead job run
comes back.

* "datagems: crash runs whose heartbeats stopped": a run of a DataGems flow sends a heartbeat
  every DATAGEMS_HEARTBEAT_SECONDS (`datagems worker` and `datagems up` set
  PREFECT_FLOWS_HEARTBEAT_FREQUENCY); when neither a heartbeat nor a final state follows one
  within a few heartbeats (or no Running state follows its Pending one, no heartbeat its Running
  one), the server marks the run Crashed (Prefect's "detect zombie flows" recipe). The job run then takes the shard over in a new run (flows/generate_dataset.py).
* "datagems: resume crashed job runs": a Crashed `generate-dataset/default` run starts a new run
  of that deployment for the same job; the job's own lease keeps it to one live job run.

Both are kept by name: `datagems deploy` creates them, or updates them when present.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound

from datagems_core.config.settings import Settings
from flows.launch import GENERATE_DATASET

CRASH_SILENT_RUNS: Final = "datagems: crash runs whose heartbeats stopped"
RESUME_CRASHED_JOBS: Final = "datagems: resume crashed job runs"
DATAGEMS_FLOWS: Final = ["generate-dataset", "generate-shard", "build-recurring-dataset"]
# A run is dead after this many heartbeats missed; one late heartbeat on a busy machine is not.
MISSED_HEARTBEATS: Final = 2.5
_PENDING: Final = "prefect.flow-run.Pending"
_FINAL_EVENTS: Final = {
    f"prefect.flow-run.{name}" for name in ("Completed", "Failed", "Cancelled", "Crashed")
}


def silent_runs_automation(settings: Settings) -> AutomationCore:
    """Mark a DataGems flow run Crashed once its heartbeats stop."""
    window = timedelta(seconds=settings.heartbeat_seconds * MISSED_HEARTBEATS)
    return AutomationCore(
        name=CRASH_SILENT_RUNS,
        description=(
            f"A DataGems flow run that sent no heartbeat nor final state for {window} (its "
            "worker died) is marked Crashed, so its job takes the work over."
        ),
        trigger=EventTrigger(
            # From Pending and Running too: a worker killed while it starts a run's process
            # (Pending) or before the run's first heartbeat leaves a run as dead. An event in
            # both sets (a heartbeat, Running) meets the window and starts the next one.
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running", _PENDING},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Running", *_FINAL_EVENTS},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "flow", "prefect.resource.name": DATAGEMS_FLOWS}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=window,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"DataGems: no heartbeat for {window.total_seconds():.0f} s; its worker "
                    "died or lost the Prefect server"
                ),
            )
        ],
    )


def resume_jobs_automation(job_deployment_id: UUID) -> AutomationCore:
    """Start the job again, in a new run of its deployment, when its job run crashed."""
    return AutomationCore(
        name=RESUME_CRASHED_JOBS,
        description=(
            f"A Crashed {GENERATE_DATASET} run is followed by a new run for the same job; it "
            "resumes from the checkpoints (at most DATAGEMS_JOB_MAX_RESUMES times)."
        ),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=[
                ResourceSpecification(
                    {"prefect.resource.role": "flow", "prefect.resource.name": "generate-dataset"}
                ),
                ResourceSpecification(
                    {"prefect.resource.id": f"prefect.deployment.{job_deployment_id}"}
                ),
            ],
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=job_deployment_id,
                parameters={"job_id": "{{ flow_run.parameters['job_id'] }}"},
            )
        ],
    )


async def ensure_automations(client: PrefectClient, settings: Settings) -> list[str]:
    """Create or update DataGems' automations; returns their names."""
    wanted = [silent_runs_automation(settings)]
    try:
        deployment = await client.read_deployment_by_name(GENERATE_DATASET)
        wanted.append(resume_jobs_automation(deployment.id))
    except ObjectNotFound:
        pass  # no job deployment in this prefect.yaml: nothing to resume with
    for automation in wanted:
        present = await client.read_automations_by_name(automation.name)
        if present:
            await client.update_automation(present[0].id, automation)
            for duplicate in present[1:]:
                await client.delete_automation(duplicate.id)
        else:
            await client.create_automation(automation)
    return [a.name for a in wanted]
