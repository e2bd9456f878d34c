"""`embedlab serve`: the embedding server (docs/serving.md) for a model, with an optional index and reranker.

Loads the models, builds the app with `embedlab.server.create_app` and runs it under uvicorn on loopback by default.
"""

from __future__ import annotations

from pathlib import Path

import typer

from embedlab.cli.common import ModelOption, console, errors
from embedlab.cli.inference import BackendOption, ThreadsOption
from embedlab.server.config import ServerConfig

DEFAULTS = ServerConfig()
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    model: str = ModelOption,
    index: Path | None = typer.Option(
        None, "--index", help="An index directory (`embedlab index build`) for /v1/search."
    ),
    reranker: Path | None = typer.Option(
        None, "--reranker", help="A cross-encoder directory for /v1/rerank and search reranking."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback exposes the server."),
    port: int = typer.Option(8080, help="Port to listen on."),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="EMBEDLAB_API_KEY", show_default=False,
        help="Require 'Authorization: Bearer KEY' on every endpoint but /health and /docs.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="The model name clients send and answers carry (default: --model)."
    ),
    no_truncate: bool = typer.Option(
        False, "--no-truncate", help="Refuse texts over the model's max tokens instead of cutting them."
    ),
    max_batch_tokens: int = typer.Option(DEFAULTS.max_batch_tokens, help="Tokens merged into one encode call."),
    forward_tokens: int = typer.Option(DEFAULTS.forward_tokens, help="Padded tokens per forward pass within a batch."),
    max_queue: int = typer.Option(DEFAULTS.max_queue, help="Requests waiting for the model before new ones get 429."),
    workers: int = typer.Option(
        DEFAULTS.workers, help="Inference threads, each running one batch at a time with --threads torch threads: "
        "on N cores, --workers N --threads 1 keeps every core busy (docs/serving.md)."
    ),
    timeout: float = typer.Option(DEFAULTS.timeout, help="Seconds a request may wait and run before it gets 504."),
    max_inputs: int = typer.Option(DEFAULTS.max_inputs, help="Texts per request."),
    max_body_mb: float = typer.Option(DEFAULTS.max_body_bytes / 2**20, help="Largest request body, in MiB."),
    backend: str = BackendOption,
    threads: int | None = ThreadsOption,
    log_level: str = typer.Option("info", help="uvicorn's log level: critical, error, warning, info, debug."),
    playground_sparse: str | None = typer.Option(
        None, "--playground-sparse", help="A sparse (SPLADE) model for the playground's late-interaction page."
    ),
    playground_multi_vector: str | None = typer.Option(
        None, "--playground-multi-vector", help="A multi-vector (ColBERT) model for the playground's "
        "late-interaction page.",
    ),
    playground: bool = typer.Option(
        True, "--playground/--no-playground", help="Serve the playground's pages at / and their endpoints "
        "(training ones included) under /playground.",
    ),
    ray_replicas: int | None = typer.Option(
        None, "--ray-replicas", help="Run N replicas as a Ray Serve deployment instead (needs the ray extra); "
        "each reserves --threads CPUs (default 1).",
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="With --ray-replicas: a running cluster's HOST:PORT, ray://HOST:PORT or auto "
        "(default: start a local Ray).",
    ),
) -> None:
    """Serve MODEL over HTTP: OpenAI-compatible /v1/embeddings, /v1/similarity, /v1/rerank, /v1/search, /metrics."""
    from embedlab.errors import EmbedlabError
    from embedlab.extras import require

    for module in ("fastapi", "uvicorn"):
        require(module, "embedlab serve")
    from embedlab.server.launch import ServedModels, build_app

    config = ServerConfig(
        model_name=name or model, api_key=api_key, truncate=not no_truncate, max_body_bytes=int(max_body_mb * 2**20),
        max_inputs=max_inputs, max_batch_tokens=max_batch_tokens, forward_tokens=forward_tokens, max_queue=max_queue,
        timeout=timeout, playground=playground, workers=workers,
    )
    models = ServedModels(model=model, backend=backend, threads=threads, index=index, reranker=reranker,
                          sparse=playground_sparse, multi_vector=playground_multi_vector)
    if host not in LOOPBACK and api_key is None:
        errors.print(
            f"[yellow]warning:[/yellow] listening on {host} without --api-key: anyone who reaches it can use it"
        )
    if ray_replicas is not None:
        from embedlab.server.ray_serve import RayServeConfig, serve_on_ray

        ray_config = RayServeConfig(replicas=ray_replicas, cpus_per_replica=threads or 1, host=host, port=port,
                                    address=ray_address)
        serve_on_ray(models, config, ray_config, on_ready=lambda url: console.print(
            f"serving {config.model_name} on Ray Serve, {ray_replicas} replicas, at {url}  (API docs at /docs)"))
        return
    if ray_address is not None:
        raise EmbedlabError("--ray-address needs --ray-replicas N")
    import uvicorn

    app = build_app(models, config)
    svc = app.state.service
    shape = f"sparse, {svc.encoder.vocab_size} terms" if svc.representation == "sparse" else f"{svc.encoder.dim}-d"
    console.print(f"serving {config.model_name} ({shape}) at http://{host}:{port}  (API docs at /docs)")
    # On SIGTERM uvicorn stops accepting and lets requests in flight finish, for at most one request timeout.
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=int(timeout) + 1)
