"""The Q-network: its head outputs land on the right edit indices, masking, dueling, the policy file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_benchmark import ToyBenchmark

from rlnas.agents import load_policy
from rlnas.agents.policy import policy_payload
from rlnas.agents.qnetwork import QNetwork, QNetworkConfig, pair_indices, stack_observations
from rlnas.cells import Cell
from rlnas.env import ArchitectureSearchEnv
from rlnas.errors import CheckpointError, ConfigError
from rlnas.files import atomic_torch_save
from rlnas.spaces import DARTS_SPACE
from rlnas.spaces.dag import _insert_vertex
from rlnas.spaces.layout import EditLayout


def coded_heads(network: QNetwork):
    """Head outputs whose values name their slot: kind * 1e6 + first * 1e4 + second * 1e2 + op."""
    c = network.config
    v, ops = c.max_vertices, c.num_ops
    op_q = torch.tensor([[[1e6 + i * 1e4 + o for o in range(ops)] for i in range(v)]])
    src, dst = pair_indices(v)
    toggle = 2e6 + torch.tensor(src * 1e4 + dst * 1e2, dtype=torch.float32)
    pair_q = torch.stack([toggle] + [3e6 + torch.tensor(src * 1e4 + dst * 1e2 + o) for o in range(ops)], dim=-1)[None]
    remove_q = torch.tensor([[4e6 + i * 1e4 for i in range(v)]])
    return op_q.float(), pair_q.float(), remove_q.float()


def decode(code: float) -> tuple[int, int, int, int]:
    code = round(code)
    return code // 10**6, code // 10**4 % 100, code // 100 % 100, code % 100


def check_edit(space, cell: Cell, index: int, result: Cell, code: tuple[int, int, int, int]) -> None:
    kind, a, b, op = code
    rows, ops = cell.rows, cell.ops
    if kind == 1:  # op change of vertex a to op
        assert result == Cell(rows, (*ops[:a], op, *ops[a + 1 :]))
    elif kind == 2:  # toggle edge a -> b
        toggled = Cell((*rows[:a], rows[a] ^ (1 << b), *rows[a + 1 :]), ops).prune()
        assert result == toggled
    elif kind == 3:  # insert a vertex with op on the edge a -> b
        assert rows[a] >> b & 1
        assert result == Cell(_insert_vertex(rows, a, b), (*ops[:b], op, *ops[b:]))
    elif kind == 4:  # remove vertex a
        assert result == space._remove_vertex(rows, ops, a)
    else:
        raise AssertionError(f"unknown head code {code} at index {index}")


@pytest.mark.parametrize("name", ["nb101", "nb201", "toy"])
def test_head_outputs_match_the_edit_indices(name, request):
    benchmark = ToyBenchmark() if name == "toy" else request.getfixturevalue(name)
    space = benchmark.space
    network = QNetwork(QNetworkConfig.for_space(space), space.edit_layout)
    flat = network.assemble(*coded_heads(network))[0].tolist()
    assert len(flat) == space.num_edits
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        cell = space.sample(rng)
        for index, result in space.edits(cell):
            check_edit(space, cell, index, result, decode(flat[index]))
            checked += 1
    assert checked > 500


@pytest.mark.parametrize("name", ["nb101", "nb201", "toy"])
def test_masked_dueling_q_values(name, request):
    benchmark = ToyBenchmark() if name == "toy" else request.getfixturevalue(name)
    env = ArchitectureSearchEnv(benchmark)
    torch.manual_seed(0)
    network = QNetwork(QNetworkConfig.for_space(benchmark.space), benchmark.space.edit_layout)
    batch = stack_observations([env.reset(seed=s)[0] for s in range(6)])
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        q = network(tensors)
    valid = torch.as_tensor(batch["action_mask"]).bool()
    assert q.shape == (6, benchmark.space.num_edits)
    assert torch.isfinite(q[valid]).all() and torch.isneginf(q[~valid]).all()
    assert valid[torch.arange(6), q.argmax(dim=1)].all()
    # dueling: the mean Q over the valid actions is the value of the context token
    with torch.no_grad():
        h = network.value  # the value head alone, recomputed through a hook on its input
        seen = {}
        handle = h.register_forward_hook(lambda module, inputs, output: seen.setdefault("v", output))
        network(tensors)
        handle.remove()
    mean_q = torch.where(valid, q, torch.zeros_like(q)).sum(1) / valid.sum(1)
    torch.testing.assert_close(mean_q, seen["v"].squeeze(1), rtol=1e-4, atol=1e-4)


def test_padding_does_not_change_the_q_values(nb101):
    """The same cell with different junk in its padded rows gets the same Q-values."""
    env = ArchitectureSearchEnv(nb101)
    obs, _ = env.reset(seed=0)
    while obs["vertex_mask"].all():
        obs, _ = env.reset()
    network = QNetwork(QNetworkConfig.for_space(nb101.space), nb101.space.edit_layout).eval()
    junk = {k: v.copy() for k, v in obs.items()}
    padded = junk["vertex_mask"] == 0
    junk["ops"][padded] = 5
    with torch.no_grad():
        a = network({k: torch.as_tensor(v[None]) for k, v in obs.items()})
        b = network({k: torch.as_tensor(v[None]) for k, v in junk.items()})
    torch.testing.assert_close(a, b)


def test_policy_round_trip_and_errors(nb201, nb101, tmp_path):
    network = QNetwork(QNetworkConfig.for_space(nb201.space), nb201.space.edit_layout)
    env_kwargs = {"horizon": 16, "alpha": 6.0, "shaping": "power", "reward": "score"}
    atomic_torch_save(policy_payload(network, env_kwargs, "nb201-cifar10", "nb201"), tmp_path / "policy.pt")
    policy = load_policy(tmp_path)
    assert policy.benchmark == "nb201-cifar10" and policy.env_config == env_kwargs
    env = policy.make_env(nb201)
    assert env.horizon == 16
    obs, _ = env.reset(seed=0)
    batch = stack_observations([obs, env.reset(seed=1)[0]])
    with torch.no_grad():
        expected = network({k: torch.as_tensor(v) for k, v in batch.items()}).numpy()
    np.testing.assert_array_equal(policy.q_values(batch), expected)
    np.testing.assert_allclose(policy.q_values(obs), expected[0], rtol=1e-5, atol=1e-5)
    assert obs["action_mask"][policy.act(obs)] == 1 and policy.act(batch).tolist() == expected.argmax(1).tolist()
    with pytest.raises(CheckpointError, match="nb201"):
        policy.make_env(nb101)
    with pytest.raises(CheckpointError, match="no policy"):
        load_policy(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "policy.pt").write_bytes(b"not a policy")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_policy(tmp_path / "bad")


def test_the_network_reads_the_spaces_published_layout(nb101):
    """Each index takes the head output of the edit the layout publishes there: reorder the layout,
    and the Q-values follow it."""
    layout = nb101.space.edit_layout
    shuffled = EditLayout(tuple(reversed(layout.edits)), layout.num_cells, layout.max_vertices, layout.num_ops)
    config = QNetworkConfig.for_space(nb101.space)
    network = QNetwork(config, layout)
    heads = coded_heads(network)
    assert torch.equal(QNetwork(config, shuffled).assemble(*heads), network.assemble(*heads).flip(1))
    with pytest.raises(ConfigError, match="one-cell"):
        QNetwork(QNetworkConfig.for_space(DARTS_SPACE), DARTS_SPACE.edit_layout)
