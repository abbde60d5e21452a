"""Grouped expert matmuls for the dropless MoE dispatch: every token-expert assignment computed,
none dropped, two implementations with identical results.

Both take the assignments as rows [N, d_model] (N = tokens x k, token-major), each row's expert
and its rank among that expert's rows (`slot`), and the experts' weights (`ExpertWeights.arrays()`),
and return each row's expert output [N, d_model].

- `ragged_experts`: rows sorted by expert, `jax.lax.ragged_dot` (a grouped GEMM on GPU/TPU; on CPU
  XLA runs it as a dense masked matmul over every expert, E x the useful FLOPs, and counts it so).
- `padded_experts` (the CPU choice): rows placed at (expert, slot) in [E, C, d_model] buffers and the
  experts run as one batched matmul, C the smallest rung of a static ladder that holds the busiest
  expert (`capacities`), picked at run time by `lax.switch`, so only that branch runs.  Its VJP is
  written by hand: JAX's own derivative of a switch makes every branch return the residuals of all
  the others (zero-filled), so a small rung would write the largest rung's activations (14x slower
  measured at 64 experts); here the residuals are kept per row ([N, d_ff]), the same shape
  whichever rung ran, and the backward pass runs the same rung again.
  XLA's cost analysis counts the largest branch of a conditional: the rung of every token for
  every expert (E/k x the useful expert FLOPs), an upper bound of what runs.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

LADDER = (1.125, 1.25, 1.5, 2.0)  # padded capacities, x the mean load; then doubling up to every token
BIAS = {"wi_0": "bi_0", "wi_1": "bi_1", "wo": "bo"}


def capacities(n_tokens: int, n_experts: int, top_k: int) -> list[int]:
    """The static capacities `padded_experts` picks from: 1.125, 1.25, 1.5, 2, 4, 8, ... x the mean load
    (n_tokens x top_k / n_experts), rounded up to a multiple of 8, ending at n_tokens (an expert takes
    each token at most once, so n_tokens slots always hold its load)."""
    mean = n_tokens * top_k / n_experts
    caps, m, i = [], 0.0, 0
    while not caps or caps[-1] < n_tokens:
        m = LADDER[i] if i < len(LADDER) else 2 * m
        i += 1
        c = min(n_tokens, -(-math.ceil(m * mean) // 8) * 8)
        if not caps or c > caps[-1]:
            caps.append(c)
    return caps


def rung(caps: list[int], load) -> jax.Array:
    """Index of the first capacity >= load (a comparison count: no search loop in the program)."""
    return jnp.sum(jnp.asarray(caps, jnp.int32) < load).astype(jnp.int32)


# ---- padded: [E, C, d] buffers, a ladder of C, a hand-written VJP -------------------------------


def _sources(expert, slot, n_experts: int, capacity: int):
    """(the row each buffer slot holds, N where empty [E C]; each row's slot in the flat buffer [N]).
    Only integers are scattered: the rows themselves move by gathers, which XLA:CPU runs several
    times faster than a scatter of the same rows."""
    n = expert.shape[0]
    flat = expert * capacity + slot
    src = (
        jnp.full((n_experts * capacity,), n, jnp.int32)
        .at[flat]
        .set(jnp.arange(n, dtype=jnp.int32), unique_indices=True)
    )
    return src, flat


def _place(rows, src, n_experts: int, capacity: int):
    """Rows [N, X] into an [E, C, X] buffer, zero where no row sits (a gather)."""
    return jnp.take(rows, src, axis=0, mode="fill", fill_value=0).reshape(n_experts, capacity, -1)


def _take(buf, flat):
    """Each row's entry of an [E, C, X] buffer -> [N, X] (a gather)."""
    return jnp.take(buf.reshape(-1, buf.shape[-1]), flat, axis=0)


def _matmul(x, w: dict, name: str):
    out = jnp.einsum("ecd,edf->ecf", x, w[name].astype(x.dtype))
    return out + w[BIAS[name]][:, None, :].astype(x.dtype) if BIAS[name] in w else out


def _forward(capacity: int, act, gated: bool, rows, expert, slot, w):
    """One rung: (outputs [N, d], pre-activations [N, f] (and the gate's [N, f]) as residuals)."""
    n_experts = w["wi_0"].shape[0]
    src, flat = _sources(expert, slot, n_experts, capacity)
    x = _place(rows, src, n_experts, capacity)
    pre0 = _matmul(x, w, "wi_0")
    pre1 = _matmul(x, w, "wi_1") if gated else None
    h = act(pre0) * pre1 if gated else act(pre0)
    y = _matmul(h, w, "wo")
    res = (_take(pre0, flat), _take(pre1, flat) if gated else None)
    return _take(y, flat), res


def _backward(capacity: int, act, gated: bool, rows, expert, slot, w, pre0_rows, pre1_rows, g_rows):
    """One rung's VJP from the per-row residuals: (d rows, d weights)."""
    n_experts = w["wi_0"].shape[0]
    src, flat = _sources(expert, slot, n_experts, capacity)
    place = partial(_place, src=src, n_experts=n_experts, capacity=capacity)
    x, pre0, gy = place(rows), place(pre0_rows), place(g_rows)
    a, act_vjp = jax.vjp(act, pre0)
    pre1 = place(pre1_rows) if gated else None
    h = a * pre1 if gated else a
    grads = {"wo": jnp.einsum("ecf,ecd->efd", h, gy).astype(w["wo"].dtype)}
    dh = jnp.einsum("ecd,efd->ecf", gy, w["wo"].astype(gy.dtype))
    dpre0 = act_vjp(dh * pre1 if gated else dh)[0]
    grads["wi_0"] = jnp.einsum("ecd,ecf->edf", x, dpre0).astype(w["wi_0"].dtype)
    dx = jnp.einsum("ecf,edf->ecd", dpre0, w["wi_0"].astype(dpre0.dtype))
    if gated:
        dpre1 = dh * a
        grads["wi_1"] = jnp.einsum("ecd,ecf->edf", x, dpre1).astype(w["wi_1"].dtype)
        dx = dx + jnp.einsum("ecf,edf->ecd", dpre1, w["wi_1"].astype(dpre1.dtype))
    for name, d in (("wi_0", dpre0), ("wi_1", dpre1 if gated else None), ("wo", gy)):
        if BIAS[name] in w:
            grads[BIAS[name]] = jnp.sum(d, axis=1).astype(w[BIAS[name]].dtype)
    return _take(dx, flat), grads


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def padded_experts(caps: tuple[int, ...], act, gated: bool, index, rows, expert, slot, w):
    """The experts on every assignment row, in [E, caps[index], d] buffers (see the module docstring)."""
    return _padded_fwd(caps, act, gated, index, rows, expert, slot, w)[0]


def _padded_fwd(caps, act, gated, index, rows, expert, slot, w):
    branches = [partial(_forward, c, act, gated) for c in caps]
    out, res = (
        branches[0](rows, expert, slot, w) if len(caps) == 1 else jax.lax.switch(index, branches, rows, expert, slot, w)
    )
    return out, (index, rows, expert, slot, w, res)


def _padded_bwd(caps, act, gated, saved, g):
    index, rows, expert, slot, w, (pre0, pre1) = saved
    branches = [partial(_backward, c, act, gated) for c in caps]
    args = (rows, expert, slot, w, pre0, pre1, g)
    d_rows, d_w = branches[0](*args) if len(caps) == 1 else jax.lax.switch(index, branches, *args)
    return None, d_rows, None, None, d_w


padded_experts.defvjp(_padded_fwd, _padded_bwd)


# ---- ragged: sorted rows, jax.lax.ragged_dot ----------------------------------------------------


def ragged_experts(act, gated: bool, rows, expert, w):
    """The experts on every assignment row: rows sorted by expert, grouped matmuls, unsorted."""
    n_experts = w["wi_0"].shape[0]
    order = jnp.argsort(expert, stable=True)
    sizes = jnp.bincount(expert, length=n_experts).astype(jnp.int32)
    x, row_expert = rows[order], expert[order]

    def grouped(inp, name):
        out = jax.lax.ragged_dot(inp, w[name].astype(inp.dtype), sizes)
        return out + w[BIAS[name]][row_expert].astype(inp.dtype) if BIAS[name] in w else out

    h = act(grouped(x, "wi_0"))
    if gated:
        h = h * grouped(x, "wi_1")
    y = grouped(h, "wo")
    return jnp.zeros_like(y).at[order].set(y, unique_indices=True)
