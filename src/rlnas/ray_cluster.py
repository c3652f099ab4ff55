"""Starting Ray or joining a cluster, the one way every Ray executor does it (training, compare, search).

Ray is imported only here and only when a Ray run starts, so the rest of rlnas works without it.
Joining checks first that something listens at the address: Ray itself retries an unreachable
address for minutes, printing connection warnings, where a user wants one line.
"""

from __future__ import annotations

import os
import socket
from types import ModuleType

from rlnas.errors import ConfigError, RlnasError

#: Where the runs of a search, a comparison or a training run execute: this process (or its pool), or Ray.
EXECUTORS = ("local", "ray")
#: How long the check that a cluster's address answers waits for a connection.
CONNECT_TIMEOUT_SECONDS = 5.0


def import_ray() -> ModuleType:
    """The `ray` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RlnasError("--executor ray needs Ray: pip install 'rlnas[ray]'") from exc
    return ray


def cluster_address(address: str | None) -> tuple[str | None, str]:
    """The cluster Ray would join, and where it was given: `--address`, else Ray's RAY_ADDRESS variable."""
    return (address, "--address") if address else (os.environ.get("RAY_ADDRESS") or None, "RAY_ADDRESS")


def check_reachable(address: str | None) -> None:
    """One line, before Ray is started, when nothing answers at the `host:port` or `ray://host:port` cluster
    address given (`--address`, else RAY_ADDRESS). No address, `auto` and `local` are left to Ray, which
    answers them at once."""
    address, source = cluster_address(address)
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RlnasError(f"{source} {address!r} is not HOST:PORT; give the address `ray start --head` printed")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise RlnasError(
            f"no Ray cluster answers at {source} {address} ({exc.strerror or exc}); "
            "start one there with `ray start --head`, or give the address it printed"
        ) from exc


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown --executor {executor!r}; choose {' or '.join(EXECUTORS)}")


def check_ray_options(executor: str, address: str | None) -> None:
    """Before anything is written: a known executor, `--address` only with Ray, Ray installed, and a cluster
    at the address."""
    check_executor(executor)
    if address is not None and executor != "ray":
        raise RlnasError("--address joins a Ray cluster; use it with --executor ray")
    if executor == "ray":
        import_ray()
        check_reachable(address)


def start_ray(address: str | None) -> tuple[ModuleType, bool]:
    """Ray, joined to the cluster at `address` (or RAY_ADDRESS) or started locally with this machine's cores,
    unless it is already up; and whether this call started it (the caller then shuts it down at the end).
    A ConnectionError comes only from joining a cluster (`auto`: none running)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    check_reachable(address)
    try:  # no address: RAY_ADDRESS's cluster, else a local Ray with this machine's cores
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        target, source = cluster_address(address)
        raise RlnasError(f"cannot join a Ray cluster at {source} {target}: {exc}") from exc
    return ray, True
