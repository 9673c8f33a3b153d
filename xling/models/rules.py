"""Gradient rules of the shared decoder: the points where attribution methods change the
backward pass, and the rule sets that fill them.

Layer-wise relevance propagation in its "efficient" form (LXT 2.x, Achtibat et al. 2024)
computes relevance as gradient x input after changing the gradient at a few operations; the
forward pass is never changed. The decoder calls one `GradRules` object, chosen by
`ModelConfig.rules` (so a rule set is part of the static config and every jit traces it
apart), at these points:

- `normaliser(r)`: the 1 / sqrt(var + eps) factor of RMSNorm and LayerNorm (and of the q/k
  norms). AttnLRP holds it constant (the identity rule on norms); LayerNorm's mean
  subtraction keeps its gradient, as in LXT's `layer_norm_forward`.
- `elementwise(fn, x)`: an element-wise non-linearity (GELU, SiLU) and the tanh softcaps of
  attention logits and final logits. AttnLRP: the identity rule (gradient out / in, so the
  relevance passes through unchanged); LXT has no softcap, and a softcap is one more
  element-wise function, so it gets the same rule.
- `product(h)`: the output of the gated MLP's `act(gate x) * up x`. AttnLRP: the uniform
  rule, gradient halved (each factor gets half the relevance).
- `attention_inputs(q, k, v)`: the queries (after RoPE), keys and values entering attention.
  AttnLRP: gradient into q and k divided by 4, into v by 2 (the uniform rule on the two
  products q.k and A.v); the softmax keeps its gradient.
- `gate(g)`: the gate branch `act(gate x)` before the product (CP-LRP stops it).

Not rule points, by design: the embedding scale (a constant factor, linear), learned position
embeddings (added to the layer-0 residual stream, so their relevance is part of that
token's), ALiBi slopes (a constant bias on the attention logits: like any bias it absorbs
relevance) and projection biases (the same).

Rule sets: "plain" (gradient x input: every point the identity), "attnlrp" (LXT's AttnLRP
rules above) and "cp_lrp" (CP-LRP, Ali et al. 2022, as LXT: norms as AttnLRP, no gradient
through q, k or the gate branch). `register_rules` adds another; it is one definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def _keep(x: Array) -> Array:
    return x


def _apply(fn: Callable[[Array], Array], x: Array) -> Array:
    return fn(x)


@dataclasses.dataclass(frozen=True)
class GradRules:
    """One rule set: a function per rule point (see the module docstring)."""

    name: str
    normaliser: Callable[[Array], Array] = _keep
    elementwise: Callable[[Callable[[Array], Array], Array], Array] = _apply
    product: Callable[[Array], Array] = _keep
    gate: Callable[[Array], Array] = _keep
    attention_inputs: Callable[[Array, Array, Array], tuple[Array, Array, Array]] = lambda q, k, v: (q, k, v)


def scale_gradient(x: Array, factor: float) -> Array:
    """x in the forward pass; the incoming gradient divided by `factor` in the backward."""

    @jax.custom_vjp
    def f(x):
        return x

    def fwd(x):
        return x, None

    def bwd(_, g):
        return (g / jnp.asarray(factor, g.dtype),)

    f.defvjp(fwd, bwd)
    return f(x)


def identity_rule(fn: Callable[[Array], Array], x: Array, eps: float = 1e-10) -> Array:
    """fn(x) in the forward pass; gradient `fn(x) / (x + eps) * g` in the backward, so that
    x * grad_x = fn(x) * g: the relevance passes through unchanged (LXT's
    `identity_rule_implicit`, with its epsilon)."""

    @jax.custom_vjp
    def f(x):
        return fn(x)

    def fwd(x):
        y = fn(x)
        return y, y / (x + jnp.asarray(eps, x.dtype))

    def bwd(ratio, g):
        return (ratio * g,)

    f.defvjp(fwd, bwd)
    return f(x)


def relevance_tap(x: Array, probe: Array) -> Array:
    """x in the forward pass. In the backward, x's gradient passes through unchanged and the
    gradient of `probe` (zeros of x's shape without the last axis) is `sum_d x * grad_x`: the
    gradient x input relevance of every token at this point, computed where the gradient
    is, so that no [B, T, D] gradient of a layer outlives its step of the backward pass."""

    @jax.custom_vjp
    def f(x, probe):
        return x

    def fwd(x, probe):
        return x, x

    def bwd(x, g):
        r = (x.astype(jnp.float32) * g.astype(jnp.float32)).sum(-1)
        return g, r.astype(probe.dtype)

    f.defvjp(fwd, bwd)
    return f(x, probe)


def _attnlrp_attention(q: Array, k: Array, v: Array) -> tuple[Array, Array, Array]:
    return scale_gradient(q, 4), scale_gradient(k, 4), scale_gradient(v, 2)


def _cp_attention(q: Array, k: Array, v: Array) -> tuple[Array, Array, Array]:
    return jax.lax.stop_gradient(q), jax.lax.stop_gradient(k), v


PLAIN = GradRules("plain")
ATTNLRP = GradRules(
    "attnlrp",
    normaliser=jax.lax.stop_gradient,
    elementwise=identity_rule,
    product=lambda h: scale_gradient(h, 2),
    attention_inputs=_attnlrp_attention,
)
CP_LRP = GradRules(
    "cp_lrp",
    normaliser=jax.lax.stop_gradient,
    elementwise=identity_rule,
    gate=jax.lax.stop_gradient,
    attention_inputs=_cp_attention,
)
_RULES: dict[str, GradRules] = {r.name: r for r in (PLAIN, ATTNLRP, CP_LRP)}


def register_rules(rules: GradRules) -> None:
    """Make a rule set available as `ModelConfig(rules=rules.name)`."""
    if rules.name in _RULES and _RULES[rules.name] is not rules:
        raise ValueError(f"a different rule set is already registered as {rules.name!r}")
    _RULES[rules.name] = rules


def rule_names() -> tuple[str, ...]:
    return tuple(_RULES)


def get_rules(name: str) -> GradRules:
    try:
        return _RULES[name]
    except KeyError:
        raise ValueError(f"unknown rule set {name!r}; known: {', '.join(_RULES)}") from None
