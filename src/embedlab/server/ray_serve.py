"""serve_on_ray: the embedding server as a Ray Serve deployment of several replicas, on one machine or a cluster.

Each replica builds the same FastAPI app as `embedlab serve` (build_app) in its own process, with its own model and
batching worker; Serve's HTTP proxy spreads requests over the replicas. Needs the `ray` extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedlab.errors import EmbedlabError, check_positive_integers
from embedlab.scale.ray_cluster import import_ray, ray_session, worker_error
from embedlab.server.config import ServerConfig
from embedlab.server.launch import ServedModels, build_app

serve = import_ray("ray.serve")
APP_NAME = "embedlab"
REPLICA_HEADER = "x-embedlab-replica"


@dataclass(frozen=True)
class RayServeConfig:
    """How many replicas, the CPUs each reserves (its torch threads too), where Serve's proxy listens, which cluster.

    address None (or "local") starts a local Ray instance sized for the replicas; see ray_session for the rest.
    """

    replicas: int = 2
    cpus_per_replica: int = 1
    host: str = "127.0.0.1"
    port: int = 8080  # embedlab serve's
    address: str | None = None

    def __post_init__(self) -> None:
        check_positive_integers(self, ("replicas", "cpus_per_replica", "port"))


@serve.deployment(name=APP_NAME)
@serve.ingress()
class EmbedlabReplica:
    """One replica: a whole embedlab server (model, batching worker, limits), built in the replica's own process."""

    def __init__(self, models: ServedModels, config: ServerConfig) -> None:
        self.models = models
        self.config = config

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = build_app(self.models, self.config)
        app.add_middleware(ReplicaHeader, replica=serve.get_replica_context().replica_id.unique_id)
        return app


class ReplicaHeader:
    """ASGI middleware naming the replica that answered in every response, so uneven load or one bad replica shows."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, tagged if scope["type"] == "http" else send)


def deploy(models: ServedModels, config: ServerConfig, ray_config: RayServeConfig = RayServeConfig()) -> str:
    """Deploy the replicas onto the Ray this process is connected to and wait until all run; returns the base URL."""
    serve.start(http_options={"host": ray_config.host, "port": ray_config.port})
    replica = EmbedlabReplica.options(
        num_replicas=ray_config.replicas,
        ray_actor_options={"num_cpus": ray_config.cpus_per_replica},
        # Serve's default of 5 in flight would starve the replica's own batching; its queue limit answers 429 instead.
        max_ongoing_requests=config.max_queue,
    )
    # Threads = reserved CPUs: torch's default of every core would have the replicas of one node fight over them.
    models = replace(models, threads=ray_config.cpus_per_replica)
    try:
        serve.run(replica.bind(models, config), name=APP_NAME, route_prefix="/")
    except RuntimeError as error:
        raise EmbedlabError(f"the Ray Serve replicas did not start: {_failure(error)}") from None
    return f"http://{ray_config.host}:{ray_config.port}"


def _failure(error: RuntimeError) -> str:
    """Why the deployment failed: the replica's own exception, at the end of its deployment's status message."""
    app = serve.status().applications.get(APP_NAME)
    messages = [d.message for d in app.deployments.values() if d.message.strip()] if app is not None else []
    return worker_error(messages[0] if messages else str(error))


def serve_on_ray(
    models: ServedModels,
    config: ServerConfig,
    ray_config: RayServeConfig = RayServeConfig(),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the replicas until Ctrl-C or SIGTERM, then delete the deployment (replicas finish what they hold).

    on_ready(url) is called once every replica answers.
    """
    with ray_session(ray_config.address, num_cpus=ray_config.replicas * ray_config.cpus_per_replica):
        url = deploy(models, config, ray_config)
        try:
            if on_ready:
                on_ready(url)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass  # Ctrl-C, or SIGTERM (ray_session makes it one): stop serving, which is no failure
        finally:
            serve.delete(APP_NAME)
