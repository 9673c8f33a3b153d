"""Training: the causal-LM loss, optimizers, the jitted (sharded) train step."""
