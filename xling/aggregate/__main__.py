"""`python -m xling.aggregate DIR [DIR ...] [--out=DIR]`: one table of every finished run."""

from __future__ import annotations

from absl import app, flags

from xling import cli
from xling.aggregate import aggregate

_OUT = flags.DEFINE_string("out", None, "Where the table and plots go (default: the first DIR's aggregate/).")
_BOOTSTRAP = flags.DEFINE_integer("bootstrap", 1000, "Resamples of the CIs computed here (pooled, paired).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of those resamples.")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("name one or more directories: python -m xling.aggregate DIR")

    def body() -> None:
        result = aggregate(argv[1:], _OUT.value, n_resamples=_BOOTSTRAP.value, seed=_SEED.value)
        print(result.files[1].read_text(encoding="utf-8"))
        print(f"{len(result.rows)} rows from {len(result.runs)} runs; written: "
              + ", ".join(str(p) for p in result.files))  # fmt: skip

    cli.guarded(body, "nothing is lost: aggregation only reads the runs")


def run() -> None:
    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()
