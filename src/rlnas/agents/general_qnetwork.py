"""One Q-network for every space: a transformer over the search episode's tokens, with action heads read
from the actions' arguments (`rlnas.env.search_episode`), so nothing in it depends on a space.

Tokens, in this order:

    current vertices (max_vertices)   op-slot token + position in its cell + which cell + adjacency row and column
    elite headers (num_elites)        the elite's features (present, rank, when found, is current, neighbours known)
    context (1)                       the run's context vector (budget left, waiting, current rank, ...)
    elite vertices (num_elites x max_vertices)   as the current ones, plus their elite's features
    recent moves (recent_edits)       kind, rank change, new, improved, and the op slot the move set

Padding vertices, absent elites and absent recent moves are masked out of the attention.

Action heads. Every action has arguments (kind, u, v, slot) in the observation. Its advantage is

    A(a) = w_kind . relu(U_kind h_u + V_kind h_v + E_kind[slot] + S[seen])

where h_u is the token the action acts on (a vertex of the current cell for an edit, the elite's
header for a return to an elite, the context token for a fresh sample), h_v the second vertex of a
pairwise edit (edge toggle, insertion, source change; a learned null vector otherwise), E the
embedding of the op slot it sets, and S whether it leads to a known cell. So op-change heads are
per vertex and per slot, edge, insertion and source heads pairwise, removal heads per vertex, and the
two global heads read the elite headers and the context: the heads of DESIGN's Q-network, built from
each space's published edit layout. Q = V(context) + A - mean of A over the valid actions; masked
actions are -inf.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlnas.agents.qnetwork import EncoderBlock
from rlnas.env.search_episode import (
    ACTION_KINDS,
    CONTEXT_FIELDS,
    ELITE_FIELDS,
    RECENT_FIELDS,
    SLOT_OFFSET,
    EpisodeConfig,
)

OBS_KEYS = (
    "tokens",
    "cell_of",
    "position",
    "adjacency",
    "elites",
    "context",
    "recent",
    "recent_slot",
    "action_args",
    "action_mask",
    "action_seen",
)


@dataclass(frozen=True)
class GeneralQNetworkConfig:
    """Shape of the network; the first four fields are the episode's fixed sizes (`EpisodeConfig`)."""

    max_vertices: int = 30
    """Vertex tokens per architecture."""
    num_elites: int = 3
    """Elite groups and return-to-elite actions."""
    recent_edits: int = 4
    """Recent-move tokens."""
    op_slots: int = 10
    """Op slots of the token vocabulary."""
    d_model: int = 32
    """Width of the tokens."""
    num_layers: int = 2
    """Transformer layers."""
    num_heads: int = 4
    """Attention heads per layer."""
    ff_dim: int = 64
    """Hidden width of each layer's feed-forward block."""
    head_dim: int = 32
    """Hidden width of the action heads."""

    @classmethod
    def for_episodes(cls, episode: EpisodeConfig, **overrides) -> GeneralQNetworkConfig:
        sizes = {
            "max_vertices": episode.max_vertices,
            "num_elites": episode.num_elites,
            "recent_edits": episode.recent_edits,
            "op_slots": episode.op_slots,
        }
        return cls(**sizes, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


class GeneralQNetwork(nn.Module):
    def __init__(self, config: GeneralQNetworkConfig):
        super().__init__()
        self.config = c = config
        d, h, kinds = c.d_model, c.head_dim, len(ACTION_KINDS)
        t, k = c.max_vertices, c.num_elites
        self.token_embedding = nn.Embedding(SLOT_OFFSET + c.op_slots, d, padding_idx=0)
        self.position_embedding = nn.Embedding(t, d)
        self.cell_embedding = nn.Embedding(t, d)
        self.group_embedding = nn.Embedding(1 + k, d)  # current, elite 1..K
        self.out_edges = nn.Linear(t, d, bias=False)
        self.in_edges = nn.Linear(t, d, bias=False)
        self.elite_features = nn.Linear(len(ELITE_FIELDS), d)
        self.header_embedding = nn.Parameter(torch.zeros(k, d))
        self.context_token = nn.Sequential(nn.Linear(len(CONTEXT_FIELDS), d), nn.ReLU(), nn.Linear(d, d))
        self.recent_features = nn.Linear(len(RECENT_FIELDS), d)
        self.recent_slot = nn.Embedding(c.op_slots + 1, d)
        self.blocks = nn.ModuleList(EncoderBlock(d, c.num_heads, c.ff_dim) for _ in range(c.num_layers))
        self.norm = nn.LayerNorm(d)
        self.value = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        self.subject = nn.Linear(d, kinds * h)
        self.partner = nn.Linear(d, kinds * h, bias=False)
        self.null_partner = nn.Parameter(torch.zeros(kinds * h))
        self.slot = nn.Embedding(kinds * (c.op_slots + 1), h)
        self.seen = nn.Embedding(2, h)
        self.out = nn.Parameter(torch.randn(kinds, h) / h**0.5)
        self.register_buffer("positions", torch.arange(t), persistent=False)
        self.register_buffer("groups", torch.arange(1 + k), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.token_embedding.weight.device

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked Q-values (B, num_actions); invalid actions are -inf."""
        c = self.config
        t, k, kinds, h = c.max_vertices, c.num_elites, len(ACTION_KINDS), c.head_dim
        tokens = obs["tokens"].long()  # (B, G, T)
        batch = tokens.shape[0]
        # vertex positions that are padding in every group of the batch change nothing: leave them out
        # (NB101, NB201 and NAS-Bench-Graph cells use 11 of the 30 positions at most)
        used = (tokens != 0).flatten(0, 1).any(dim=0).nonzero()
        width = int(used.max()) + 1 if len(used) else 1
        tokens = tokens[..., :width]
        adjacency = obs["adjacency"][..., :width, :width].float()
        elites = obs["elites"].float()
        elite_x = self.elite_features(elites)  # (B, K, d)
        vertices = (
            self.token_embedding(tokens)
            + self.position_embedding(obs["position"][..., :width].long())
            + self.cell_embedding(obs["cell_of"][..., :width].long())
            + self.group_embedding(self.groups)[None, :, None]
            + F.linear(adjacency, self.out_edges.weight[:, :width])
            + F.linear(adjacency.transpose(-1, -2), self.in_edges.weight[:, :width])
        )
        vertices = torch.cat([vertices[:, :1], vertices[:, 1:] + elite_x[:, :, None]], dim=1)
        headers = elite_x + self.header_embedding
        context = self.context_token(obs["context"].float()).unsqueeze(1)
        recent = obs["recent"].float()
        recent_x = self.recent_features(recent) + self.recent_slot(obs["recent_slot"].long() + 1)
        x = torch.cat(
            [vertices[:, 0], headers, context, vertices[:, 1:].reshape(batch, k * width, -1), recent_x], dim=1
        )
        vertex_pad = tokens == 0
        padding = torch.cat(
            [
                vertex_pad[:, 0],
                elites[..., 0] == 0,
                torch.zeros_like(vertex_pad[:, 0, :1]),
                vertex_pad[:, 1:].reshape(batch, k * width),
                recent[..., len(ACTION_KINDS)] == 0,  # the "present" field
            ],
            dim=1,
        )
        bias = torch.zeros(padding.shape, dtype=x.dtype, device=x.device).masked_fill(padding, float("-inf"))
        for block in self.blocks:
            x = block(x, bias[:, None, None, :])
        x = self.norm(x)
        subjects = x[:, : width + k + 1]  # current vertices, elite headers, context: what an action's u indexes

        args = obs["action_args"].long()
        kind = args[..., 0].clamp(min=0)
        u = args[..., 1].clamp(min=0)
        # elites and context follow the (trimmed) vertices; masked edits may name vertices left out
        u = torch.where(u >= t, u - t + width, u.clamp(max=width - 1))
        v = torch.where((args[..., 2] < 0) | (args[..., 2] >= width), width, args[..., 2])
        slot = args[..., 3] + 1
        partners = torch.cat(
            [self.partner(x[:, :width]), self.null_partner.expand(batch, 1, -1)], dim=1
        )  # (B, width + 1, kinds * h)
        # row s * kinds + k of a (B, S * kinds, h) view is token s projected for kind k: one gather each
        subject_h = self.subject(subjects).view(batch, -1, h).gather(1, (u * kinds + kind)[..., None].expand(-1, -1, h))
        partner_h = partners.view(batch, -1, h).gather(1, (v * kinds + kind)[..., None].expand(-1, -1, h))
        hidden = torch.relu(
            subject_h + partner_h + self.slot(kind * (c.op_slots + 1) + slot) + self.seen(obs["action_seen"].long())
        )
        advantages = (hidden * self.out[kind]).sum(-1)

        valid = obs["action_mask"].bool()
        validf = valid.to(advantages.dtype)
        mean_advantage = (advantages * validf).sum(1, keepdim=True) / validf.sum(1, keepdim=True).clamp(min=1.0)
        q = self.value(x[:, width + k]) + advantages - mean_advantage
        return q.masked_fill(~valid, float("-inf"))


def obs_to_tensors(obs: dict[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A batch of observations (arrays with a leading batch axis) as tensors on `device`."""
    return {key: torch.as_tensor(obs[key], device=device) for key in OBS_KEYS}


def stack_observations(observations: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([o[key] for o in observations]) for key in OBS_KEYS}


@torch.inference_mode()
def q_values(network: GeneralQNetwork, obs: dict[str, np.ndarray]) -> np.ndarray:
    """Masked Q-values of one observation (num_actions,), on CPU."""
    batch = {key: np.asarray(obs[key])[None] for key in OBS_KEYS}
    return network(obs_to_tensors(batch, network.device))[0].cpu().numpy()
