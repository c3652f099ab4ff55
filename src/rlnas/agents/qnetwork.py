"""The Q-network: a transformer over vertex tokens plus a context token, with one head per edit kind.

Input: the observation of `rlnas.env.ArchitectureSearchEnv` (a batch of them). Each vertex is a
token: the embedding of its op label, plus a linear projection of its adjacency row (where its
out-edges go) and column (where its in-edges come from), plus a position embedding of its index
(the index is the topological position, which the edit layout refers to). A global context token
carries the context vector (budget left, current and best score, ...). Padding vertices are
masked out of the attention.

Output: dueling Q-values in the flat edit layout of `rlnas.spaces.dag` (the NB201 space uses its
op-change block only, so its layout is the first `num_edits` entries):

    op change      (v, op)       per-vertex head h_v -> num_ops       index (v - 1) * num_ops + op
    edge toggle    (i, j)        pairwise head (h_i, h_j) -> 1        slots * num_ops + pair(i, j)
    vertex insert  (i, j, op)    pairwise head (h_i, h_j) -> num_ops  ... + pairs + pair(i, j) * num_ops + op
    vertex remove  (v)           per-vertex head h_v -> 1             ... + pairs * (1 + num_ops) + v - 1

with pair(i, j) enumerating i < j column by column: (0,1), (0,2), (1,2), (0,3), ... The value
comes from the context token; Q = V + A - mean of A over the valid actions; invalid actions get
-inf, so an argmax never picks them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlnas.env.search_env import CONTEXT_SIZE, num_tokens

OBS_KEYS = ("ops", "adjacency", "vertex_mask", "context", "action_mask")


@dataclass(frozen=True)
class QNetworkConfig:
    """Shape of the Q-network; the first four fields come from the search space."""

    max_vertices: int
    """Vertex tokens per cell (the space's `max_vertices`)."""
    num_ops: int
    """Ops of the space (op-change and insertion heads output one Q-value per op)."""
    num_edits: int
    """Size of the flat action layout (`space.num_edits`)."""
    vocabulary: int
    """Token ids: padding, input, output, sum and the ops (`rlnas.env.num_tokens`)."""
    context_size: int = CONTEXT_SIZE
    """Length of the context vector of the observation."""
    d_model: int = 64
    """Width of the token embeddings."""
    num_layers: int = 2
    """Transformer encoder layers."""
    num_heads: int = 4
    """Attention heads per layer."""
    ff_dim: int = 128
    """Hidden width of each layer's feed-forward block."""
    pair_dim: int = 64
    """Hidden width of the pairwise (edge) head."""

    @classmethod
    def for_space(cls, space, **overrides) -> QNetworkConfig:
        return cls(
            max_vertices=int(space.max_vertices),
            num_ops=len(space.op_names),
            num_edits=int(space.num_edits),
            vocabulary=num_tokens(space),
            **overrides,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def edit_layout_sizes(max_vertices: int, num_ops: int) -> dict[str, int]:
    """Sizes of the four blocks of the full ops-on-nodes edit layout, in order."""
    slots, pairs = max_vertices - 2, max_vertices * (max_vertices - 1) // 2
    return {
        "op_change": slots * num_ops,
        "edge_toggle": pairs,
        "vertex_insert": pairs * num_ops,
        "vertex_remove": slots,
    }


def pair_indices(max_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The (i, j), i < j, of the edit layout, column by column: (0,1), (0,2), (1,2), (0,3), ..."""
    pairs = [(i, j) for j in range(max_vertices) for i in range(j)]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


class EncoderBlock(nn.Module):
    """A pre-norm transformer layer with torch's fused attention (on CPU faster than attention written
    out at every sequence length these networks see; docs/search_episode.md).

    ReLU rather than GELU in the feed-forward block and the heads: several times cheaper on CPU.
    """

    def __init__(self, d_model: int, num_heads: int, ff_dim: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = 1.0 / math.sqrt(d_model // num_heads)
        self.attention_norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.attention_out = nn.Linear(d_model, d_model)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Linear(ff_dim, d_model))

    def forward(self, x: torch.Tensor, attention_bias: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d); attention_bias: (B, 1, 1, T), 0 for tokens to attend to, -inf for padding."""
        batch, tokens, width = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(batch, tokens, 3, self.num_heads, width // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, d_head)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_bias, scale=self.scale)
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, tokens, width))
        return x + self.ff(self.ff_norm(x))


class QNetwork(nn.Module):
    def __init__(self, config: QNetworkConfig):
        super().__init__()
        self.config = config
        c = config
        sizes = edit_layout_sizes(c.max_vertices, c.num_ops)
        if c.num_edits not in (sizes["op_change"], sum(sizes.values())):
            raise ValueError(
                f"num_edits={c.num_edits} is neither the op-change block ({sizes['op_change']}) nor the "
                f"full layout ({sum(sizes.values())}) of {c.max_vertices} vertices and {c.num_ops} ops"
            )
        d = c.d_model
        self.op_embedding = nn.Embedding(c.vocabulary, d, padding_idx=0)
        self.position_embedding = nn.Embedding(c.max_vertices, d)
        self.out_edges = nn.Linear(c.max_vertices, d, bias=False)  # the vertex's adjacency row
        self.in_edges = nn.Linear(c.max_vertices, d, bias=False)  # ... and column
        self.context_token = nn.Sequential(nn.Linear(c.context_size, d), nn.ReLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(EncoderBlock(d, c.num_heads, c.ff_dim) for _ in range(c.num_layers))
        self.norm = nn.LayerNorm(d)
        self.value = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        self.op_head = nn.Linear(d, c.num_ops)
        #: Spaces whose edits are op changes only (NB201) use the op-change block alone.
        self.op_changes_only = c.num_edits == sizes["op_change"]
        if not self.op_changes_only:
            self.remove_head = nn.Linear(d, 1)
            self.pair_source = nn.Linear(d, c.pair_dim)
            self.pair_target = nn.Linear(d, c.pair_dim, bias=False)
            self.pair_out = nn.Sequential(nn.ReLU(), nn.Linear(c.pair_dim, 1 + c.num_ops))
        src, dst = pair_indices(c.max_vertices)
        self.register_buffer("pair_src", torch.from_numpy(src), persistent=False)
        self.register_buffer("pair_dst", torch.from_numpy(dst), persistent=False)
        self.register_buffer("positions", torch.arange(c.max_vertices), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.op_embedding.weight.device

    def assemble(
        self, op_q: torch.Tensor, pair_q: torch.Tensor | None = None, remove_q: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Flat advantages in the edit layout from the per-kind head outputs.

        op_q: (B, V, num_ops) per vertex; pair_q: (B, P, 1 + num_ops) per vertex pair k, that is
        (`pair_src[k]`, `pair_dst[k]`), channel 0 the edge toggle and 1.. the insertion ops;
        remove_q: (B, V) per vertex. Vertex 0
        (the input) and the last slot have no op-change or removal entry. Spaces with op changes
        only need `op_q` alone.
        """
        batch = op_q.shape[0]
        op_block = op_q[:, 1:-1].reshape(batch, -1)
        if self.op_changes_only:
            return op_block
        toggle_block = pair_q[..., 0]
        insert_block = pair_q[..., 1:].reshape(batch, -1)
        remove_block = remove_q[:, 1:-1]
        return torch.cat([op_block, toggle_block, insert_block, remove_block], dim=1)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked Q-values (B, num_edits); invalid actions are -inf."""
        ops = obs["ops"].long()
        adjacency = obs["adjacency"].float()
        vertex_mask = obs["vertex_mask"].bool()
        valid = obs["action_mask"].bool()
        tokens = (
            self.op_embedding(ops)
            + self.position_embedding(self.positions)
            + self.out_edges(adjacency)
            + self.in_edges(adjacency.transpose(1, 2))
        )
        context = self.context_token(obs["context"].float()).unsqueeze(1)
        x = torch.cat([context, tokens], dim=1)
        padding = torch.cat([torch.zeros_like(vertex_mask[:, :1]), ~vertex_mask], dim=1)  # the context is never padding
        bias = torch.zeros(padding.shape, dtype=x.dtype, device=x.device).masked_fill(padding, float("-inf"))
        bias = bias[:, None, None, :]
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x)
        h_context, h = x[:, 0], x[:, 1:]

        op_q = self.op_head(h)
        if self.op_changes_only:
            advantages = self.assemble(op_q)
        else:
            pair_hidden = self.pair_source(h)[:, self.pair_src] + self.pair_target(h)[:, self.pair_dst]
            advantages = self.assemble(op_q, self.pair_out(pair_hidden), self.remove_head(h).squeeze(-1))

        validf = valid.to(advantages.dtype)
        mean_advantage = (advantages * validf).sum(1, keepdim=True) / validf.sum(1, keepdim=True).clamp(min=1.0)
        q = self.value(h_context) + advantages - mean_advantage
        return q.masked_fill(~valid, float("-inf"))


def obs_to_tensors(obs: dict[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A batch of observations (arrays with a leading batch axis) as tensors on `device`."""
    return {k: torch.as_tensor(obs[k], device=device) for k in OBS_KEYS}


def stack_observations(observations: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([o[k] for o in observations]) for k in OBS_KEYS}


def pick_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)
