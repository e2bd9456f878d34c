"""ray_session: Ray for the optional Ray routes (Serve replicas, Ray Data encoding), local or a cluster's.

Ray is an optional extra and a cluster may be down: either is one sentence to the user, never a traceback.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from embedlab.errors import EmbedlabError
from embedlab.extras import require

CONNECT_TIMEOUT_S = 5.0


def import_ray(module: str = "ray") -> ModuleType:
    """ray or one of its libraries ("ray.serve"), or a one-line EmbedlabError saying which extra to install."""
    return require(module, "running on Ray")


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray connected to `address` ("HOST:PORT", "ray://HOST:PORT" or "auto"), or a new local instance (None, "local").

    A Ray this process already runs (a notebook's, a test's) is used as it is and left running; one started or
    joined here is disconnected on the way out. num_cpus caps a local instance and is ignored for a cluster.
    Meanwhile SIGTERM raises KeyboardInterrupt, so a stopped job cleans up as on Ctrl-C.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    local = address in (None, "local")
    if not local:
        _check_reachable(address)
    try:
        # "local", never None: None would join whatever RAY_ADDRESS names; that is what "auto" is for.
        # Workers' logs stay in Ray's session folder (/tmp/ray/session_latest/logs): errors reach the user as one line.
        ray.init(
            address="local" if local else address,
            num_cpus=num_cpus if local else None,
            include_dashboard=False,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = "a local Ray instance" if local else f"the Ray cluster at {address}"
        raise EmbedlabError(f"could not start or reach {where}: {str(error).splitlines()[0]}") from None
    try:
        with _sigterm_as_interrupt():
            yield ray
    finally:
        ray.shutdown()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside, so a stopped job cleans up (ray.shutdown) as on Ctrl-C.

    Set after ray.init on purpose: the handler Ray's core worker installs aborts the process, leaving agents behind.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker_error(message: str) -> str:
    """The worker's own exception in a Ray failure message: its last line, after Ray's and the worker's tracebacks."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _check_reachable(address: str) -> None:
    """Fail in seconds on a host:port nobody answers on; ray.init itself retries for minutes first."""
    if address == "auto":  # Ray finds the cluster itself (RAY_ADDRESS or this node's) and fails fast without one
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise EmbedlabError(f"a Ray address is HOST:PORT, ray://HOST:PORT or auto, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise EmbedlabError(f"no Ray cluster answers at {address}: {error.strerror or error}") from None
