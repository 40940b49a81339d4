"""A minimal Llama-architecture decoder: RMSNorm, rotate-half RoPE, SwiGLU, grouped-query attention.

Parameter names match Hugging Face LlamaForCausalLM one-to-one, so export is a plain state_dict
save. This is the reference the exports are checked against; it knows nothing about training.
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ModelArgs:
    vocab_size: int = 2048
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 8
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 256  # = training context; RoPE is untested beyond it
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.variance_epsilon = eps

    def forward(self, x):  # (..., dim)
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


def rope_cos_sin(position_ids, head_dim: int, theta: float):
    """position_ids (B, T) int64 -> cos, sin (B, T, head_dim), HF layout (two halves repeated)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = position_ids.float()[..., None] * inv_freq  # (B, T, head_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = a.num_attention_heads, a.num_key_value_heads, a.head_dim
        self.q_proj = nn.Linear(a.hidden_size, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(a.hidden_size, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(a.hidden_size, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, a.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, past_kv=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)  # (B, KV, T, hd)
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_kv is not None:
            k = torch.cat((past_kv[0], k), dim=2)  # (B, KV, P+T, hd)
            v = torch.cat((past_kv[1], v), dim=2)
        present = (k, v)
        rep = self.n_heads // self.n_kv  # query head h reads kv head h // rep, as HF's repeat_kv
        kr = k[:, :, None].expand(B, self.n_kv, rep, -1, self.head_dim).reshape(B, self.n_heads, -1, self.head_dim)
        vr = v[:, :, None].expand(B, self.n_kv, rep, -1, self.head_dim).reshape(B, self.n_heads, -1, self.head_dim)
        if mask is None:
            y = F.scaled_dot_product_attention(q, kr, vr, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, kr, vr, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(y), present


class MLP(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.gate_proj = nn.Linear(a.hidden_size, a.intermediate_size, bias=False)
        self.up_proj = nn.Linear(a.hidden_size, a.intermediate_size, bias=False)
        self.down_proj = nn.Linear(a.intermediate_size, a.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.self_attn = Attention(a)
        self.mlp = MLP(a)
        self.input_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(a.hidden_size, a.rms_norm_eps)

    def forward(self, x, cos, sin, mask, past_kv=None):
        h, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past_kv)
        x = x + h
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class LlamaBody(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab_size, a.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(a) for _ in range(a.num_hidden_layers))
        self.norm = RMSNorm(a.hidden_size, a.rms_norm_eps)


class Llama(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.args = a
        self.model = LlamaBody(a)
        self.lm_head = nn.Linear(a.hidden_size, a.vocab_size, bias=False)
        if a.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2 style scaled init of residual outputs
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / (2 * a.num_hidden_layers) ** 0.5)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once

    def forward(self, input_ids, position_ids=None, mask=None, past_kvs=None):
        """input_ids (B, T). Without past_kvs and mask: plain causal training forward.
        With them: mask is an additive float mask (B, 1, T, P+T); past_kvs a list of (k, v).
        Returns logits (B, T, V) and the list of present (k, v) per layer."""
        B, T = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(T, device=input_ids.device).expand(B, T)
        cos, sin = rope_cos_sin(position_ids, self.args.head_dim, self.args.rope_theta)
        x = self.model.embed_tokens(input_ids)
        presents = []
        for i, layer in enumerate(self.model.layers):
            x, present = layer(x, cos, sin, mask, None if past_kvs is None else past_kvs[i])
            presents.append(present)
        return self.lm_head(self.model.norm(x)), presents
