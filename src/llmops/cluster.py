"""The Ray cluster that distributed work joins: prepare_corpus's datatrove passes and the learning
curve's cells, both under data.executor.kind=ray (data.executor.address; none: RAY_ADDRESS, else a
one-machine cluster started for the run)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator


class ClusterUnavailable(RuntimeError):
    """The Ray cluster named by data.executor.address (or RAY_ADDRESS) did not answer."""


def check_cluster(address: str | None, timeout: float = 5.0) -> None:
    """A host:port address answers a TCP connection within `timeout`, else ClusterUnavailable:
    ray.init itself retries an address that is down for minutes before it gives up."""
    if not address or address in ("auto", "local") or "://" in address or ":" not in address:
        return
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise ClusterUnavailable(
            f"data.executor.address={address}: no Ray cluster answered within {timeout:g} s ({err}); start one "
            "(`ray start --head`) or set data.executor.kind=local"
        ) from None


@contextlib.contextmanager
def ray_cluster(address: str | None) -> Iterator[None]:
    """Connect to the Ray cluster at `address` (None: RAY_ADDRESS, else start a one-machine one)
    for the length of the block: prepare_corpus's passes and the learning curve's cells."""
    import ray

    check_cluster(address or os.environ.get("RAY_ADDRESS"))
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
