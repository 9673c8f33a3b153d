"""The train step: gradient accumulation over micro-batches, one optimizer update, jitted once.

`make_train_step` returns `step(state, batch) -> (state, metrics)`, where `batch` holds
[A, B, T] arrays: A micro-batches of B rows are scanned, their summed losses and gradients
accumulated, and the update uses the mean over every scored token of the A x B rows (so
4 x 2 equals one batch of 8). Parameters may be sharded (FSDP: the logical-axis rules put
`embed` on the fsdp mesh axis); the optimizer state is created from them and so shares their
sharding; activations are constrained by the same rules under `partitioning`. The model's
`remat` policy rematerialises each layer in the backward pass; its dtypes set the compute
precision (e.g. bf16 activations with fp32 parameters and fp32 optimizer state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from xling.partitioning import Partitioning, activate
from xling.train.loss import Batch, loss_sum


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    step: jax.Array
    params: nnx.State
    opt_state: optax.OptState


def init_state(model, optimizer: optax.GradientTransformation) -> tuple[nnx.GraphDef, TrainState]:
    """The model's graph and a state at step 0 (optimizer moments shaped, and sharded, like the
    parameters). The state holds the model's own parameter arrays, not copies (an 8B model
    is not held twice); a step made with `donate=True` reuses their buffers, after which the
    original model object is unusable: read the trained model with `model_of`."""
    graphdef, params = nnx.split(model, nnx.Param)
    return graphdef, TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))


def model_of(graphdef: nnx.GraphDef, state: TrainState):
    return nnx.merge(graphdef, state.params)


def make_train_step(
    graphdef: nnx.GraphDef,
    optimizer: optax.GradientTransformation,
    learning_rate: Callable[[jax.Array], jax.Array],
    *,
    partitioning: Partitioning | None = None,
    donate: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict]]:
    def step(state: TrainState, batch: Batch):
        def grad_of(mb: Batch):
            with activate(partitioning):
                return jax.value_and_grad(lambda p: loss_sum(nnx.merge(graphdef, p), mb), has_aux=True)(
                    state.params
                )

        def micro(carry, mb: Batch):
            grads, total, count = carry
            (s, c), g = grad_of(mb)
            return (jax.tree.map(jnp.add, grads, g), total + s, count + c), None

        if batch.tokens.shape[0] == 1:  # no accumulation: no zero-filled gradient buffers to add to
            (total, count), grads = grad_of(jax.tree.map(lambda x: x[0], batch))
        else:
            zeros = jax.tree.map(jnp.zeros_like, state.params)
            init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))
            (grads, total, count), _ = jax.lax.scan(micro, init, batch)
        n = jnp.maximum(count, 1.0)
        grads = jax.tree.map(lambda g: g / n, grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # Keep every dtype of the state (optax promotes bf16 moments to fp32): the next step
        # then reuses this compilation, and the donated buffers alias the outputs.
        params, opt_state = jax.tree.map(lambda new, old: new.astype(old.dtype), (params, opt_state),
                                         (state.params, state.opt_state))  # fmt: skip
        metrics = {
            "loss": total / n,
            "tokens": count,
            "grad_norm": optax.global_norm(grads),
            "learning_rate": learning_rate(state.step),
        }
        return TrainState(state.step + 1, params, opt_state), metrics

    return jax.jit(step, donate_argnums=(0,) if donate else ())


def stack(batches: list[Batch]) -> Batch:
    """[B, T] batches -> one [A, B, T] batch of A micro-batches."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
