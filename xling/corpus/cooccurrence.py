"""Word and word-pair window counts over a text corpus, as an Apache Beam pipeline.

The counting definition is in `xling.corpus.counts`; this module distributes it with Beam, so the
same pipeline runs on the DirectRunner locally and unchanged on Dataflow, Flink or Spark.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from xling.corpus.counts import (
    DEFAULT_WINDOW,
    CooccurrenceCounts,
    WindowCounter,
)

_TEXT_SUFFIXES = (".txt",)
_JSONL_SUFFIXES = (".jsonl",)
# The extensions Beam decompresses by itself (CompressionTypes.AUTO).
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".zstd", ".deflate", ".lzma", ".xz")


def _as_patterns(files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    if isinstance(files, str | os.PathLike):
        files = [files]
    patterns = [os.fspath(f) for f in files]
    if not patterns:
        raise ValueError("no corpus files given")
    return patterns


def _file_format(path: str) -> str:
    name = path.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    if name.endswith(_TEXT_SUFFIXES):
        return "txt"
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    raise ValueError(f"corpus file {path!r}: expected .txt or .jsonl (optionally compressed)")


def _match_files(patterns: list[str]) -> dict[str, list[str]]:
    """Matched paths by format; each pattern must match at least one file, and no file counts twice."""
    by_format: dict[str, list[str]] = {"txt": [], "jsonl": []}
    seen: set[str] = set()
    for pattern in patterns:
        try:
            results = FileSystems.match([pattern])
        except BeamIOError:
            results = []
        paths = sorted(m.path for r in results for m in r.metadata_list)
        if not paths:
            raise FileNotFoundError(f"no corpus files match {pattern!r}")
        for path in paths:
            if path not in seen:
                seen.add(path)
                by_format[_file_format(path)].append(path)
    return by_format


def _jsonl_text(record: tuple[str, str]) -> Iterator[str]:
    filename, line = record
    if not line.strip():
        return
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{filename}: invalid JSON line ({e}): {line[:80]!r}") from None
    text = obj.get("text") if isinstance(obj, dict) else None
    if not isinstance(text, str):
        raise ValueError(f"{filename}: JSON line without a string 'text' field: {line[:80]!r}")
    yield text


def read_documents(
    pipeline: beam.Pipeline,
    files: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    whole_files: bool = False,
) -> beam.PCollection:
    """Documents (str) from .txt and .jsonl files or glob patterns (any Beam filesystem, e.g. gs://).

    .txt: one document per non-empty line, or one per file with whole_files=True. .jsonl: the
    "text" field of each line. Compressed files (.gz, ...) are read transparently.
    Raises FileNotFoundError if a pattern matches no file.
    """
    # Files are listed here, when the pipeline is built, so a typo fails before anything runs;
    # the reads themselves are split into bundles by the runner.
    by_format = _match_files(_as_patterns(files))
    parts = []
    if by_format["txt"]:
        paths = pipeline | "TxtFiles" >> beam.Create(by_format["txt"])
        if whole_files:
            parts.append(
                paths
                | "MatchTxt" >> fileio.MatchAll()
                | "OpenTxt" >> fileio.ReadMatches()
                | "ReadWholeTxt" >> beam.Map(lambda f: f.read_utf8())
            )
        else:
            parts.append(paths | "ReadTxtLines" >> beam.io.ReadAllFromText())
    if by_format["jsonl"]:
        parts.append(
            pipeline
            | "JsonlFiles" >> beam.Create(by_format["jsonl"])
            | "ReadJsonl" >> beam.io.ReadAllFromText(with_filename=True)
            | "JsonlText" >> beam.FlatMap(_jsonl_text)
        )
    docs = parts[0] if len(parts) == 1 else tuple(parts) | "Flatten" >> beam.Flatten()
    return docs | "NonEmpty" >> beam.Filter(lambda text: bool(text.strip()))


class _CountWindowsFn(beam.DoFn):
    def __init__(self, words: tuple[str, ...], pairs: tuple[tuple[str, str], ...], window: int):
        self._args = (words, pairs, window)
        self._counter: WindowCounter | None = None

    def setup(self) -> None:
        # Built on the worker: the word index is cheap to rebuild and not worth pickling.
        self._counter = WindowCounter(*self._args)

    def process(self, text: str) -> Iterator[tuple[tuple[str, ...], int]]:
        yield from self._counter.count(text).items()


class CountCooccurrences(beam.PTransform):
    """PCollection[str] of documents -> PCollection[(key, count)] summed over the corpus.

    Keys: WINDOWS_KEY, ("word", w), ("pair", w1, w2) with w1 <= w2, all folded. Words and pairs
    travel as constructor arguments, so the transform runs unchanged on any Beam runner.
    """

    def __init__(
        self, words: Iterable[str], pairs: Iterable[tuple[str, str]] = (), window: int = DEFAULT_WINDOW
    ):
        super().__init__()
        # Validates words and window here, at construction, rather than on a remote worker.
        counter = WindowCounter(words, pairs, window)
        self._fn = _CountWindowsFn(counter.words, counter.pairs, window)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        return docs | "CountPerDocument" >> beam.ParDo(self._fn) | "SumOverCorpus" >> beam.CombinePerKey(sum)


def build_pipeline(
    pipeline: beam.Pipeline,
    files: str | os.PathLike | Iterable[str | os.PathLike],
    words: Iterable[str],
    pairs: Iterable[tuple[str, str]] = (),
    window: int = DEFAULT_WINDOW,
    *,
    whole_files: bool = False,
) -> beam.PCollection:
    """Add reading and counting to `pipeline`; returns the PCollection of (key, count) (see CountCooccurrences)."""
    counting = CountCooccurrences(words, pairs, window)
    return read_documents(pipeline, files, whole_files=whole_files) | "Count" >> counting


def _record_to_json(record: tuple[tuple[str, ...], int]) -> str:
    key, count = record
    return json.dumps([*key, count], ensure_ascii=False)


def count_cooccurrences(
    files: str | os.PathLike | Iterable[str | os.PathLike],
    words: Iterable[str],
    pairs: Iterable[tuple[str, str]] = (),
    *,
    window: int = DEFAULT_WINDOW,
    whole_files: bool = False,
    runner: str | None = None,
    pipeline_options: PipelineOptions | None = None,
    output_dir: str | None = None,
) -> CooccurrenceCounts:
    """Run the counting pipeline and return its counts.

    runner: a Beam runner name; None takes the runner from `pipeline_options`, else the local
    FnApiRunner with one worker. Results go through WriteToText
    JSON lines under `output_dir` (a temporary local directory by default, deleted afterwards);
    for a remote runner pass a directory both the workers and this process can reach (gs://...),
    and install xling on the workers (e.g. --setup_file).

    Raises FileNotFoundError when a pattern matches no file, ValueError when the corpus has no
    tokens at all.
    """
    patterns = _as_patterns(files)
    # FnApiRunner: the DirectRunner of Beam 2.7x first tries Prism, which downloads a binary.
    options = (
        pipeline_options
        if pipeline_options is not None
        else PipelineOptions([], runner="FnApiRunner", direct_num_workers=1)
    )
    own_dir = output_dir is None
    out_dir = tempfile.mkdtemp(prefix="xling-cooc-") if own_dir else output_dir
    try:
        prefix = FileSystems.join(out_dir, "counts")
        with beam.Pipeline(runner=runner, options=options) as p:
            counts = build_pipeline(p, patterns, words, pairs, window, whole_files=whole_files)
            _ = (
                counts
                | "ToJson" >> beam.Map(_record_to_json)
                | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl")
            )
        result = _read_output(prefix, window)
    finally:
        if own_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
    if not result.n_windows:
        raise ValueError(f"corpus {', '.join(patterns)} has no word tokens (no non-empty documents)")
    # Words that never matched get an explicit 0 rather than being missing.
    counter = WindowCounter(words, pairs, window)
    return CooccurrenceCounts(
        window=window,
        words={w: result.words.get(w, 0) for w in counter.words},
        pairs={p: result.pairs.get(p, 0) for p in counter.pairs},
        n_windows=result.n_windows,
    )


def _read_output(prefix: str, window: int) -> CooccurrenceCounts:
    shards = [m.path for m in FileSystems.match([prefix + "*"])[0].metadata_list]
    if not shards:
        raise RuntimeError(
            f"the pipeline wrote no output under {prefix}; with a remote runner, pass an output_dir "
            "that the workers and this process can both reach"
        )
    words: dict[str, int] = {}
    pairs: dict[tuple[str, str], int] = {}
    n_windows = 0
    for path in shards:
        with FileSystems.open(path) as f:
            for line in f.read().decode("utf-8").splitlines():
                if not line:
                    continue
                *key, count = json.loads(line)
                if key[0] == "word":
                    words[key[1]] = count
                elif key[0] == "pair":
                    pairs[(key[1], key[2])] = count
                else:
                    n_windows = count
    return CooccurrenceCounts(window=window, words=words, pairs=pairs, n_windows=n_windows)
