"""What a Prefect server knows of our deployments: whether one exists, whether all are served."""

from __future__ import annotations

from prefect.client.schemas.objects import DeploymentStatus
from prefect.exceptions import ObjectNotFound

from deployments.orphan_runs import prefect_client


async def all_served(api_url: str, auth_string: str | None, entrypoints: set[str]) -> bool:
    """True when a deployment of every one of `entrypoints` is READY (a runner polls for it)."""
    async with prefect_client(api_url, auth_string) as client:
        deployments = await client.read_deployments()
    ready = {
        d.entrypoint
        for d in deployments
        if d.entrypoint in entrypoints and d.status == DeploymentStatus.READY
    }
    return ready == entrypoints


async def deployment_exists(api_url: str, auth_string: str | None, name: str) -> bool:
    """True when the server has the deployment `name` (`flow/deployment`)."""
    async with prefect_client(api_url, auth_string) as client:
        try:
            await client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
    return True
