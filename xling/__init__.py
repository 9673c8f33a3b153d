"""xling: cross-lingual interpretability for decoder LLMs in JAX/Flax."""

from xling.registry import REGISTRY, LoadedModel, load

__version__ = "0.1.0"
__all__ = ["REGISTRY", "LoadedModel", "__version__", "load"]
