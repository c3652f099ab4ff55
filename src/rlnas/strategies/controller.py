"""The classic RL controller (Zoph & Le 2017): an LSTM emits a cell decision by decision.

This module holds the networks, the rollout and the loss; the training loop that uses them,
top to bottom, is the `Reinforce` strategy in `rlnas.strategies.reinforce`. The algorithm:

1. **Controller.** An `nn.LSTMCell` runs a fixed schedule of decisions; the embedding of each
   decision is the input of the next step.
   - NB101 (`DAGSpace`): for each vertex i = 0..6 in turn, an *op step* (interior vertices only:
     a softmax over the 3 ops) and an *anchor step* whose hidden state h_i is the vertex's anchor.
     At the anchor step, edge j -> i for every earlier vertex j is an independent Bernoulli with
     p = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)) (Zoph & Le's anchor points); the next input is
     the mean of the chosen predecessors' anchors (ENAS). 5 ops + 21 edges = 26 decisions.
   - Every other space with categorical choices (`space.choices()`, the encoding TPE searches):
     one softmax per choice, in the space's order (`ChoiceController`). NB201: the op of each edge,
     (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2), 6 decisions. DARTS (NAS-Bench-301): per cell
     and node 2..5, its two sources and the op of each of its two edges, 24 decisions.
2. **Rollout.** A batch of `batch_size` replicas is sampled without gradient. **Invalid samples**
   (NB101: no input -> output path, or more than 9 edges after pruning) are **resampled**: each
   replica draws until its cell is valid, at most `max_attempts` times. Every invalid draw stays in
   the batch and enters the update with the fixed penalty reward `invalid_reward` (0.0: the
   accuracy of a network that does not exist); it is never queried. A replica whose
   `max_attempts` draws are all invalid contributes only its penalised draws.
3. **Evaluation.** Each valid cell is asked of the runner (the whole batch at once, so a parallel
   executor evaluates it in parallel); a cell queried before is free but still gives its reward.
4. **Update.** Reward = `Evaluation.score` (a fraction). The log-probabilities (and entropies) of
   the recorded decisions are recomputed by teacher forcing through the same code path that
   sampled them; loss = -mean((R - b) * log pi(decisions)) - entropy_weight * mean(entropy); one
   Adam step. The baseline b is an exponential moving average of the valid rewards (penalties are
   kept out of it, so an invalid draw always has a negative advantage once b > invalid_reward),
   initialised to the first batch's mean.
5. **Progress guard.** Revisits are free, so a converged controller could sample only known cells
   forever. After `stale_patience` consecutive batches without a new architecture, the sampling
   temperature doubles with every further such batch (logits / T, used both for sampling and in
   the update, so the update stays on-policy) and falls back to 1 at the first new architecture.

Everything runs on the CPU in float32 (the network is tiny and the batches small); all randomness
comes from the run's numpy generator: it seeds the parameter initialisation (inside
`torch.random.fork_rng`, so torch's global generator is left as it was) and a dedicated
`torch.Generator` for sampling, so a seed gives the same run in-process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rlnas.cells import INPUT, OUTPUT, Arch, Cell
from rlnas.errors import InvalidCellError, RlnasError
from rlnas.spaces import DAGSpace, SearchSpace
from rlnas.spaces.base import CategoricalSpace

# ---------------------------------------------------------------------------- the controller


def _categorical(logits: torch.Tensor, taken: torch.Tensor | None, generator: torch.Generator | None):
    """Sample (or, with `taken`, teacher-force) one categorical decision per row."""
    log_probs = torch.log_softmax(logits, dim=-1)
    if taken is None:
        taken = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return taken, log_probs.gather(1, taken[:, None]).squeeze(1), entropy


def _bernoulli(logits: torch.Tensor, taken: torch.Tensor | None, generator: torch.Generator | None):
    """Sample (or teacher-force) independent Bernoulli decisions, one per column of `logits`."""
    if taken is None:
        taken = (torch.rand(logits.shape, generator=generator) < torch.sigmoid(logits)).long()
    log_prob = -F.binary_cross_entropy_with_logits(logits, taken.float(), reduction="none").sum(-1)
    entropy = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(logits), reduction="none").sum(-1)
    return taken, log_prob, entropy


class Controller(nn.Module, ABC):
    """An LSTM that emits a cell as a fixed-length sequence of integer decisions.

    `forward(decisions)` teacher-forces given decisions, `forward(num_samples=n)` samples n
    sequences; both return (decisions (n, num_decisions) long, log-prob (n,), entropy (n,)), where
    log-prob and entropy are sums over the sequence. `decode` turns one sequence into a cell (not
    yet validated), `encode` a valid cell of the space into a sequence that decodes to it.
    """

    num_decisions: int

    def __init__(self, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        self.start = nn.Parameter(torch.zeros(1, hidden_size))  # the first input

    def reset_parameters(self, init_range: float) -> None:
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -init_range, init_range)

    @abstractmethod
    def decode(self, decisions: Sequence[int]) -> Cell:
        """The cell a decision sequence describes (each space's controller defines its schedule)."""

    @abstractmethod
    def encode(self, cell: Cell) -> list[int]:
        """The decision sequence that describes `cell`: the inverse of `decode`."""

    def _begin(self, decisions: torch.Tensor | None, num_samples: int | None):
        n = decisions.shape[0] if decisions is not None else num_samples
        if n is None:
            raise ValueError("give decisions to teacher-force or num_samples to sample")
        zeros = torch.zeros(n, self.hidden_size)
        return n, (zeros, zeros), self.start.expand(n, -1)


class DAGController(Controller):
    """Ops-on-nodes cells with the anchor-point edge mechanism; see the module docstring."""

    def __init__(self, space: DAGSpace, hidden_size: int):
        super().__init__(hidden_size)
        self.space = space
        self.op_embedding = nn.Embedding(len(space.op_names), hidden_size)
        self.op_head = nn.Linear(hidden_size, len(space.op_names))
        self.w_prev = nn.Linear(hidden_size, hidden_size, bias=False)
        self.w_curr = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)
        # The decision layout, in sequence order: vertex i's op (interior vertices), then its edges j -> i.
        n = space.max_vertices
        self.op_slot: dict[int, int] = {}
        self.edge_slots: dict[int, range] = {}
        k = 0
        for i in range(n):
            if 0 < i < n - 1:
                self.op_slot[i] = k
                k += 1
            if i > 0:
                self.edge_slots[i] = range(k, k + i)
                k += i
        self.num_decisions = k

    def forward(self, decisions=None, *, num_samples=None, generator=None, temperature: float = 1.0):
        n, state, x = self._begin(decisions, num_samples)
        taken = torch.zeros(n, self.num_decisions, dtype=torch.long)
        log_prob, entropy = torch.zeros(n), torch.zeros(n)
        anchors, keys = [], []
        for i in range(self.space.max_vertices):
            if i in self.op_slot:
                k = self.op_slot[i]
                state = self.lstm(x, state)
                forced = None if decisions is None else decisions[:, k]
                op, lp, ent = _categorical(self.op_head(state[0]) / temperature, forced, generator)
                taken[:, k], log_prob, entropy = op, log_prob + lp, entropy + ent
                x = self.op_embedding(op)
            state = self.lstm(x, state)
            h = state[0]
            anchors.append(h)
            keys.append(self.w_prev(h))
            if i == 0:
                x = h
                continue
            slots = self.edge_slots[i]
            logits = self.v(torch.tanh(torch.stack(keys[:i], 1) + self.w_curr(h)[:, None])).squeeze(-1)
            forced = None if decisions is None else decisions[:, slots.start : slots.stop]
            edges, lp, ent = _bernoulli(logits / temperature, forced, generator)
            taken[:, slots.start : slots.stop], log_prob, entropy = edges, log_prob + lp, entropy + ent
            chosen = edges.to(h.dtype)
            x = (chosen[:, :, None] * torch.stack(anchors[:i], 1)).sum(1) / (1 + chosen.sum(1, keepdim=True))
        return taken, log_prob, entropy

    def decode(self, decisions: Sequence[int]) -> Cell:
        n = self.space.max_vertices
        rows = [0] * n
        for i, slots in self.edge_slots.items():
            for j, k in enumerate(slots):
                if decisions[k]:
                    rows[j] |= 1 << i
        ops = (INPUT, *(int(decisions[self.op_slot[i]]) for i in range(1, n - 1)), OUTPUT)
        return Cell(tuple(rows), ops)

    def encode(self, cell: Cell) -> list[int]:
        """Vertex k of the pruned cell becomes vertex k, its output vertex the last; spare vertices
        get op 0 and no edges, so pruning removes them again."""
        pruned = self.space.validate(cell)
        n, m = self.space.max_vertices, pruned.num_vertices
        position = [*range(m - 1), n - 1]
        decisions = [0] * self.num_decisions
        for v in range(1, m - 1):
            decisions[self.op_slot[v]] = pruned.ops[v]
        for j, row in enumerate(pruned.rows):
            for i in range(m):
                if row >> i & 1:
                    decisions[self.edge_slots[position[i]][position[j]]] = 1
        return decisions


class ChoiceController(Controller):
    """One categorical decision per choice of a `CategoricalSpace`, in `space.choices()` order: Zoph &
    Le's controller emits one token per decision, each from a softmax over that decision's options.

    Choices over the same options share one softmax head and one embedding (as ENAS shares its op
    softmax across nodes); the LSTM state tells their positions apart. NB201 is six choices over its
    5 ops, so one head and one embedding. DARTS is 24 choices (per cell and node: its two sources,
    then the op of each edge): one op head for the 16 op decisions and one head per node's set of
    source pairs, shared by the normal and the reduction cell. Node 2's sources can only be `0_1`: a
    one-option decision, probability 1, so it adds nothing to the log-probability or the entropy.
    """

    def __init__(self, space: CategoricalSpace, hidden_size: int):
        super().__init__(hidden_size)
        self.space = space
        self.choices = space.choices()
        groups: dict[tuple[int | str, ...], int] = {}
        #: Which head (and embedding) each decision uses.
        self.group = [groups.setdefault(options, len(groups)) for _, options in self.choices]
        self.embeddings = nn.ModuleList(nn.Embedding(len(options), hidden_size) for options in groups)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, len(options)) for options in groups)
        self.num_decisions = len(self.choices)

    def forward(self, decisions=None, *, num_samples=None, generator=None, temperature: float = 1.0):
        n, state, x = self._begin(decisions, num_samples)
        taken = torch.zeros(n, self.num_decisions, dtype=torch.long)
        log_prob, entropy = torch.zeros(n), torch.zeros(n)
        for k, g in enumerate(self.group):
            state = self.lstm(x, state)
            forced = None if decisions is None else decisions[:, k]
            option, lp, ent = _categorical(self.heads[g](state[0]) / temperature, forced, generator)
            taken[:, k], log_prob, entropy = option, log_prob + lp, entropy + ent
            x = self.embeddings[g](option)
        return taken, log_prob, entropy

    def decode(self, decisions: Sequence[int]) -> Cell | Arch:
        chosen = {name: options[int(d)] for (name, options), d in zip(self.choices, decisions, strict=True)}
        return self.space.from_choices(chosen)

    def encode(self, cell: Cell | Arch) -> list[int]:
        """Through the space's `to_choices` (NB201, NAS-Bench-Graph, DARTS), the inverse of `from_choices`."""
        chosen = self.space.to_choices(cell)
        return [options.index(chosen[name]) for name, options in self.choices]


def make_controller(space: SearchSpace, hidden_size: int, init_range: float, seed: int) -> Controller:
    """The controller for a space, its parameters drawn from `seed` (torch's global state untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(space, DAGSpace):
            controller: Controller = DAGController(space, hidden_size)
        elif hasattr(space, "choices"):
            controller = ChoiceController(space, hidden_size)
        else:
            raise RlnasError(f"the REINFORCE controller has no decision schedule for the space {space.name!r}")
        controller.reset_parameters(init_range)
    return controller


# ---------------------------------------------------------------------------- rollout and loss


@dataclass
class Rollout:
    """One batch of draws: decisions of every draw, valid or not, and the pruned cell of each valid one."""

    decisions: torch.Tensor  # (draws, num_decisions)
    cells: list[Cell | None]  # None for an invalid draw
    replicas: list[int]  # which replica each draw belongs to


def sample_rollout(
    controller: Controller,
    space: SearchSpace,
    batch_size: int,
    max_attempts: int,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> Rollout:
    """Draw `batch_size` replicas; redraw each invalid one, at most `max_attempts` draws per replica.

    To keep the LSTM passes few, the redraws of a replica are sampled together (max_attempts - 1 of
    them, in one batched pass) and only those up to its first valid cell are kept: draws are i.i.d.,
    so this is the same distribution as redrawing one at a time.
    """
    draws: list[list[tuple[list[int], Cell | None]]] = [[] for _ in range(batch_size)]
    pending, left = list(range(batch_size)), max_attempts
    while pending and left:
        per_replica = 1 if left == max_attempts else left
        with torch.no_grad():
            decisions, _, _ = controller(
                num_samples=len(pending) * per_replica, generator=generator, temperature=temperature
            )
        rows = decisions.tolist()
        for r, replica in enumerate(pending):
            for row in rows[r * per_replica : (r + 1) * per_replica]:
                try:
                    cell: Cell | None = space.validate(controller.decode(row))
                except InvalidCellError:
                    cell = None
                draws[replica].append((row, cell))
                if cell is not None:
                    break
        left -= per_replica
        pending = [replica for replica in pending if draws[replica][-1][1] is None]
    kept = [(replica, row, cell) for replica, rows_ in enumerate(draws) for row, cell in rows_]
    return Rollout(
        torch.tensor([row for _, row, _ in kept], dtype=torch.long),
        [cell for _, _, cell in kept],
        [replica for replica, _, _ in kept],
    )


def reinforce_loss(
    controller: Controller,
    decisions: torch.Tensor,
    advantages: torch.Tensor,
    entropy_weight: float,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-mean(advantage * log pi(decisions)) - entropy_weight * mean(entropy); also the entropies."""
    _, log_prob, entropy = controller(decisions, temperature=temperature)
    loss = -(advantages * log_prob).mean() - entropy_weight * entropy.mean()
    return loss, entropy.detach()
