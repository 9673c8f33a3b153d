"""Pivot mining as Apache Beam pipelines: the DirectRunner here, unchanged on Dataflow, Flink
or Spark (the definitions are in `xling.corpus.pivots`, whose plain counter is the reference).

Two pipelines over sharded JSONL corpora (`xling.corpus.documents`):

- `mine`: background document frequencies, every word's document sample and the document
  frequencies in it (`DocumentFrequencies`), and, optionally, the token co-occurrence graph
  (`xling.corpus.graph`) restricted to the tokens of at least `graph.min_df` documents (a side
  input computed by the same pipeline).
- `score_documents`: one row per document (id, language, tokens, pivot proportion) for the
  data selection.

Shards are read whole by one worker each (a file and line number for any bad line), then
reshuffled so that the per-document work spreads over every worker. The tokenizer is a model
name or path (`xling.registry.load_tokenizer`), loaded once per worker.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from xling.corpus import graph as graph_lib
from xling.corpus.documents import read_documents
from xling.corpus.pivots import DocumentFrequencies, DocumentReader, WordSample, pivot_proportion, sample_key
from xling.errors import DataError
from xling.workdir import expand_files

LOCAL_RUNNER = "FnApiRunner"


def options(workers: int = 1, runner_args: Sequence[str] = ()) -> PipelineOptions:
    """Local options: `workers` processes (multi_processing mode above 1); any other
    runner's flags go in `runner_args` (e.g. ["--runner=DataflowRunner", "--project=..."])."""
    # flags=[]: Beam would otherwise parse (and warn about) the calling program's own argv.
    # FnApiRunner, not DirectRunner: Beam 2.7x's DirectRunner first tries its Prism runner,
    # which downloads a binary from GitHub at run time.
    if runner_args:
        return PipelineOptions(list(runner_args))
    mode = "multi_processing" if workers > 1 else "in_memory"
    return PipelineOptions([], runner=LOCAL_RUNNER, direct_num_workers=workers, direct_running_mode=mode)


def _tokenizer(name: str | None):
    if not name:
        return None
    from xling.registry import load_tokenizer

    tok = load_tokenizer(name)
    return lambda text: tok.encode(text, add_special_tokens=False)


class _ReadShard(beam.DoFn):
    def __init__(self, languages: tuple[str, ...]):
        self._languages = languages

    def process(self, path: str) -> Iterator[tuple[str, str, str | None]]:
        for d in read_documents([path], languages=self._languages):
            yield d.id, d.text, d.lang


class _Read(beam.DoFn):
    """(id, text, lang) -> (id, sample key, token list, words contained, lang)."""

    def __init__(self, words: tuple[str, ...], tokenizer: str | None, seed: int):
        self._args = words, tokenizer, seed

    def setup(self) -> None:
        words, tokenizer, self._seed = self._args
        self._reader = DocumentReader(words, _tokenizer(tokenizer))

    def process(self, doc):
        doc_id, text, lang = doc
        tokens, found = self._reader.read(text)
        yield doc_id, sample_key(self._seed, doc_id), tokens, sorted(found), lang


class _CountSets(beam.CombineFn):
    """Document frequency of every token: sums of per-document token sets."""

    def create_accumulator(self):
        return [0, Counter()]

    def add_input(self, acc, tokens):
        acc[0] += 1
        acc[1].update(set(tokens))
        return acc

    def merge_accumulators(self, accs):
        out = [0, Counter()]
        for n, c in accs:
            out[0] += n
            out[1].update(c)
        return out

    def extract_output(self, acc):
        return acc


def _by_word(doc):
    """(word, (sample key, token set)) for each word the document contains (the set made once)."""
    _, key, tokens, words, _ = doc
    present = sorted(set(tokens)) if words else []
    return [(w, (key, present)) for w in words]


def _sample_df(item, sample: int):
    word, (containing, kept) = item
    df: Counter = Counter()
    for _, tokens in kept[:sample]:
        df.update(tokens)
    return word, containing, len(kept), dict(df)


def _corpus(p: beam.Pipeline, patterns: str | Sequence[str], languages: Sequence[str]):
    if isinstance(patterns, str):
        patterns = [x for x in patterns.split(",") if x.strip()]
    files = [str(f) for f in expand_files(list(patterns))]  # a typo fails before anything runs
    if not files:
        raise DataError("no corpus shards given")
    return (
        p
        | "Shards" >> beam.Create(files)
        | "ReadShards" >> beam.ParDo(_ReadShard(tuple(languages)))
        | "Spread" >> beam.Reshuffle()
    )


def mine(
    corpus: str | Sequence[str],
    words: Sequence[str],
    *,
    tokenizer: str | None,
    sample: int = 1000,
    seed: int = 0,
    graph: graph_lib.GraphSpec | None = None,
    pipeline_options: PipelineOptions | None = None,
    output_dir: str | None = None,
) -> tuple[DocumentFrequencies, graph_lib.CooccurrenceGraph | None]:
    """Document frequencies (and the co-occurrence graph when `graph` is given) of a corpus.

    tokenizer: a model name or path; None counts whitespace words. The results travel through
    files under `output_dir` (a temporary local directory by default; on a remote runner, one
    the workers and this process can both reach, e.g. gs://...). Raises DataError for an empty
    corpus and for bad lines (file:line)."""
    if sample < 1:
        raise DataError(f"sample must be >= 1 document per word, got {sample}")
    reader = DocumentReader(words, None)  # validates the words here, not on a worker
    own = output_dir is None
    out = tempfile.mkdtemp(prefix="xling-pivots-") if own else output_dir
    join = FileSystems.join
    try:
        with beam.Pipeline(options=pipeline_options or options()) as p:
            docs = _corpus(p, corpus, ()) | "Tokenize" >> beam.ParDo(_Read(reader.words, tokenizer, seed))
            tokens = docs | "Tokens" >> beam.Map(lambda d: d[2])
            background = tokens | "Background" >> beam.CombineGlobally(_CountSets())
            _ = (
                background
                | "BackgroundJson" >> beam.Map(lambda acc: json.dumps([acc[0], list(acc[1].items())]))
                | "WriteBackground" >> beam.io.WriteToText(join(out, "background"), file_name_suffix=".json")
            )
            around = docs | "ByWord" >> beam.FlatMap(_by_word)
            containing = around | "Containing" >> beam.combiners.Count.PerKey()
            kept = around | "Sample" >> beam.combiners.Top.SmallestPerKey(sample)
            _ = (
                {"containing": containing, "kept": kept}
                | "Join" >> beam.CoGroupByKey()
                | "Unpack" >> beam.Map(lambda kv: (kv[0], (kv[1]["containing"][0], kv[1]["kept"][0])))
                | "SampleDf" >> beam.Map(_sample_df, sample)
                | "WordsJson" >> beam.Map(lambda r: json.dumps([r[0], r[1], r[2], list(r[3].items())]))
                | "WriteWords" >> beam.io.WriteToText(join(out, "words"), file_name_suffix=".jsonl")
            )
            if graph is not None:
                vocab = background | "GraphVocab" >> beam.Map(_graph_vocabulary, graph, tokenizer)
                vocab_side = beam.pvalue.AsSingleton(vocab)
                _ = (
                    tokens
                    | "Windows" >> beam.Map(graph_lib.windows_of, graph.window)
                    # without_defaults: an empty corpus has no graph (and fails on `background`)
                    | "Graph"
                    >> beam.CombineGlobally(graph_lib.CombineWindows(), vocab_side).without_defaults()
                    | "SaveGraph" >> beam.Map(lambda g: g.save(join(out, "graph.npz")))
                )
        return _collect(out, reader, sample, seed, tokenizer, graph)
    finally:
        if own:
            shutil.rmtree(out, ignore_errors=True)


def _graph_vocabulary(acc, spec: graph_lib.GraphSpec, tokenizer: str | None) -> dict:
    decode = None
    if tokenizer:
        from xling.registry import load_tokenizer

        tok = load_tokenizer(tokenizer)
        decode = lambda t: tok.decode([t], skip_special_tokens=False)  # noqa: E731
    return graph_lib.vocabulary(acc[1], spec, decode)


def _lines(pattern: str) -> list[str]:
    out = []
    for m in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(m.path) as f:
            out += [line for line in f.read().decode("utf-8").splitlines() if line]
    return out


def _collect(out: str, reader: DocumentReader, sample: int, seed: int, tokenizer, graph):
    lines = _lines(FileSystems.join(out, "background*"))
    if not lines or not json.loads(lines[0])[0]:
        raise DataError("the corpus has no documents")
    n_docs, background = json.loads(lines[0])
    words = {w: WordSample(0, 0, {}) for w in reader.words}  # a word in no document: zeros
    for line in _lines(FileSystems.join(out, "words*")):
        w, containing, sampled, df = json.loads(line)
        words[w] = WordSample(containing, sampled, dict((t, c) for t, c in df))
    kind = "model" if tokenizer else "words"
    freqs = DocumentFrequencies(kind, sample, seed, n_docs, dict((t, c) for t, c in background), words)
    g = graph_lib.CooccurrenceGraph.load(FileSystems.join(out, "graph.npz")) if graph is not None else None
    return freqs, g


def score_documents(
    corpus: str | Sequence[str],
    pivots: set,
    out: str | Path,
    *,
    tokenizer: str | None,
    languages: Sequence[str] = (),
    pipeline_options: PipelineOptions | None = None,
) -> None:
    """Write `out` (JSONL shards `out-*.jsonl`): {id, lang, tokens, pivot_proportion} per document."""
    frozen = frozenset(pivots)

    def row(doc):
        doc_id, _, tokens, _, lang = doc
        return json.dumps({"id": doc_id, "lang": lang, "tokens": len(tokens),
                           "pivot_proportion": pivot_proportion(tokens, frozen)}, ensure_ascii=False)  # fmt: skip

    with beam.Pipeline(options=pipeline_options or options()) as p:
        _ = (
            _corpus(p, corpus, languages)
            | "Tokenize" >> beam.ParDo(_Read((), tokenizer, 0))
            | "Row" >> beam.Map(row)
            | "Write" >> beam.io.WriteToText(str(out), file_name_suffix=".jsonl")
        )
