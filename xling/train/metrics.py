"""Training metrics to TensorBoard event files.

clu's metric writers import TensorFlow at package import, which xling does not otherwise
need; this writer has clu's `write_scalars(step, scalars)` / `flush` / `close` shape and
writes the same event files with the `tensorboard` package's own writer (no TensorFlow).
`tensorboard --logdir WORKDIR/tensorboard` reads them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path


class TensorBoardWriter:
    def __init__(self, logdir: str | Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(logdir))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                               summary=summary_pb2.Summary(value=values)))  # fmt: skip

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
