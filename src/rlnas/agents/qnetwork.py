"""The Q-network: a transformer over vertex tokens plus a context token, with one head per edit kind.

Input: the observation of `rlnas.env.ArchitectureSearchEnv` (a batch of them). Each vertex is a
token: the embedding of its op label, plus a linear projection of its adjacency row (where its
out-edges go) and column (where its in-edges come from), plus a position embedding of its index
(the index is the topological position, which the edit layout refers to). A global context token
carries the context vector (budget left, current and best score, ...). Padding vertices are
masked out of the attention.

Output: dueling Q-values in the space's published edit layout (`space.edit_layout`, read here, not
restated). The heads cover the edits of ops-on-nodes spaces:

    op change      (v, op)       per-vertex head h_v -> num_ops
    edge toggle    (i, j)        pairwise head (h_i, h_j) -> 1
    insert         (i, j, op)    pairwise head (h_i, h_j) -> num_ops
    remove         (v)           per-vertex head h_v -> 1

and each index of the layout takes the head output of its edit (`edit_head_index`). The value
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
from rlnas.errors import ConfigError
from rlnas.spaces.layout import EDGE_TOGGLE, EDIT_KINDS, INSERT, OP_CHANGE, REMOVE, EditLayout

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


def pair_indices(max_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The vertex pairs (i, j), i < j, the pairwise head scores, column by column: (0,1), (0,2), (1,2), (0,3), ..."""
    pairs = [(i, j) for j in range(max_vertices) for i in range(j)]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


def edit_head_index(layout: EditLayout) -> np.ndarray:
    """For each edit of `layout`, its position in the head outputs laid end to end: op changes (v, op),
    then per pair of `pair_indices` the toggle and the insertion ops, then removals (v)."""
    vertices, ops = layout.max_vertices, layout.num_ops
    src, dst = pair_indices(vertices)
    pair = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(src, dst, strict=True))}
    pairs_start, remove_start = vertices * ops, vertices * ops + len(pair) * (1 + ops)
    if layout.num_cells != 1:
        raise ConfigError(f"the Q-network acts on one-cell spaces; this layout has {layout.num_cells} cells")
    index = []
    for edit in layout.edits:
        if edit.kind == OP_CHANGE:
            index.append(edit.vertex * ops + edit.op)
        elif edit.kind in (EDGE_TOGGLE, INSERT):
            channel = 0 if edit.kind == EDGE_TOGGLE else 1 + edit.op
            index.append(pairs_start + pair[edit.vertex, edit.other] * (1 + ops) + channel)
        elif edit.kind == REMOVE:
            index.append(remove_start + edit.vertex)
        else:
            raise ConfigError(f"the Q-network has no head for {EDIT_KINDS[edit.kind]} edits")
    return np.array(index, dtype=np.int64)


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
    def __init__(self, config: QNetworkConfig, layout: EditLayout):
        super().__init__()
        self.config = config
        c = config
        if (layout.max_vertices, layout.num_ops, len(layout)) != (c.max_vertices, c.num_ops, c.num_edits):
            raise ConfigError(
                f"an edit layout of {len(layout)} edits, {layout.max_vertices} vertices and {layout.num_ops} ops "
                f"does not fit a Q-network of {c.num_edits}, {c.max_vertices} and {c.num_ops}"
            )
        self.layout = layout
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
        #: Spaces whose edits are op changes only (NB201) need the op head alone.
        self.op_changes_only = set(layout.arrays[:, 0].tolist()) == {OP_CHANGE}
        if not self.op_changes_only:
            self.remove_head = nn.Linear(d, 1)
            self.pair_source = nn.Linear(d, c.pair_dim)
            self.pair_target = nn.Linear(d, c.pair_dim, bias=False)
            self.pair_out = nn.Sequential(nn.ReLU(), nn.Linear(c.pair_dim, 1 + c.num_ops))
        src, dst = pair_indices(c.max_vertices)
        self.register_buffer("pair_src", torch.from_numpy(src), persistent=False)
        self.register_buffer("pair_dst", torch.from_numpy(dst), persistent=False)
        self.register_buffer("positions", torch.arange(c.max_vertices), persistent=False)
        self.register_buffer("edit_heads", torch.from_numpy(edit_head_index(layout)), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.op_embedding.weight.device

    def assemble(
        self, op_q: torch.Tensor, pair_q: torch.Tensor | None = None, remove_q: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Advantages in the edit layout from the per-kind head outputs.

        op_q: (B, V, num_ops) per vertex; pair_q: (B, P, 1 + num_ops) per vertex pair k, that is
        (`pair_src[k]`, `pair_dst[k]`), channel 0 the edge toggle and 1.. the insertion ops;
        remove_q: (B, V) per vertex. Spaces with op changes only need `op_q` alone.
        """
        heads = [op_q.flatten(1)] if self.op_changes_only else [op_q.flatten(1), pair_q.flatten(1), remove_q]
        return torch.cat(heads, dim=1)[:, self.edit_heads]

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
