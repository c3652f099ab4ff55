"""Joining a Ray cluster: an address where nothing answers is one line before Ray starts (no Ray needed)."""

import socket

import pytest

from rlnas.errors import RlnasError
from rlnas.ray_cluster import check_ray_options, check_reachable


@pytest.fixture
def listening():
    """A local address that accepts connections, and one where nothing listens any more."""
    server = socket.create_server(("127.0.0.1", 0))
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    yield f"127.0.0.1:{server.getsockname()[1]}", f"127.0.0.1:{closed_port}"
    server.close()


def test_an_address_is_checked_before_ray_starts(listening, monkeypatch):
    open_address, closed_address = listening
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    check_reachable(open_address)
    check_reachable(f"ray://{open_address}")
    for left_to_ray in (None, "auto", "local"):
        check_reachable(left_to_ray)
    with pytest.raises(RlnasError, match=f"no Ray cluster answers at --address {closed_address}.*ray start --head"):
        check_reachable(closed_address)
    with pytest.raises(RlnasError, match="is not HOST:PORT"):
        check_reachable("headnode")
    monkeypatch.setenv("RAY_ADDRESS", closed_address)
    with pytest.raises(RlnasError, match=f"at RAY_ADDRESS {closed_address}"):
        check_reachable(None)
    check_reachable(open_address)  # --address wins over RAY_ADDRESS


def test_ray_options_are_checked_together(listening, monkeypatch):
    open_address, closed_address = listening
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(RlnasError, match="use it with --executor ray"):
        check_ray_options("local", open_address)
    check_ray_options("local", None)
    check_ray_options("ray", open_address)
    with pytest.raises(RlnasError, match="no Ray cluster answers"):
        check_ray_options("ray", closed_address)
