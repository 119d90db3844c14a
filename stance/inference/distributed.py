"""Batch scoring on Ray Data: the ``stance predict --engine ray`` path.

Sharded JSON Lines or Parquet go in (a file, a glob or a directory of shards), sharded files of
the same format come out, with every input column kept, in the input's row order, and the same
added columns as the single-machine path (:func:`stance.inference.predictor.predict_file`).

Each Ray worker loads the predictor ONCE (a callable class in ``map_batches``) and scores each
batch of rows by running :func:`predict_file` itself on that batch. The single-machine path is
the per-batch kernel, so the added columns (label, probabilities and whatever that path writes),
their values, the row checks and the error messages cannot drift apart between the two paths.
JSON Lines records go through the kernel unparsed (no Arrow type inference touches the other
columns: a JSONL output line is byte-for-byte the line the single-machine path writes); Parquet
columns stay Arrow columns and only the text column goes through the kernel.

Ray is an optional extra (``pip install "stance[ray]"``); it is imported inside the functions so
``import stance`` stays light.

Example:
    >>> predict_files_ray("archive/*.parquet", "scored/", model="models/transformer")  # doctest: +SKIP
    RaySummary(rows=1000000, predicted=1000000, skipped=0, ...)
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.constants import DEFAULT_BATCH_SIZE
from stance.data.io import json_line_problem
from stance.errors import ConfigError, DataError, ModelError, StanceError
from stance.inference.predictor import truncation_message

__all__ = ["RaySummary", "predict_files_ray", "input_files", "RAY_INSTALL_HINT"]

RAY_INSTALL_HINT = 'pip install "stance[ray]"'
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# Rows per Ray batch: the single-machine path's chunk size (length-sorting pays off within it).
RAY_BATCH_ROWS = 2048
# Bookkeeping columns the workers add for the summary; never written to the output.
_LABEL = "__stance_label"
_CUT = "__stance_truncated"
_LINE = "__stance_line"
_WHERE = "__stance_where"


@dataclass
class RaySummary:
    """What :func:`predict_files_ray` did.

    Attributes:
        rows: records read (and written).
        predicted: rows that got a prediction.
        skipped: rows written without one (``skip_invalid``).
        truncated: texts cut at the model's ``max_length``.
        output: the directory written.
        files: the shards written, in row order (``part-00000.jsonl``, ...).
        label_counts: predicted label -> number of rows.
        warnings: what the single-process path would warn about (texts truncated), in words:
            the workers' own warnings stay in their processes.
    """

    rows: int
    predicted: int
    skipped: int
    truncated: int
    output: Path | str
    files: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data], not bare ray)
    except ImportError as exc:
        raise StanceError(
            f"the Ray engine needs Ray Data, which is not installed ({exc.name or exc}); "
            f"install it with `{RAY_INSTALL_HINT}`, or leave out --engine ray"
        ) from None
    return ray


# --- inputs -----------------------------------------------------------------------------------


def _file_format(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    return None


def input_files(inputs: str | Path | Sequence[str | Path]) -> tuple[list[str], str]:
    """The shard paths to read (in order) and their format, ``"jsonl"`` or ``"parquet"``.

    Each input is a file, a glob (``archive/2019-*.jsonl``) or a directory (its JSONL or Parquet
    files, not recursive). Local shards are sorted by name, which is the row order of the output.
    URIs (``s3://...``) are passed to Ray as they are.

    Raises:
        DataError: nothing matches, a shard is neither JSONL nor Parquet, or formats are mixed.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    paths: list[str] = []
    for item in map(str, items):
        if "://" in item:
            paths.append(item)
        elif os.path.isdir(item):
            found = sorted(
                str(p) for p in Path(item).iterdir() if p.is_file() and _file_format(str(p))
            )
            paths.extend(found or [item])  # an empty directory is reported below
        elif any(c in item for c in "*?["):
            paths.extend(sorted(glob.glob(item)) or [item])
        else:
            paths.append(item)
    for path in paths:
        if "://" not in path and not os.path.isfile(path):
            raise DataError(
                path, "no JSONL or Parquet file here; give a file, a glob or a directory of shards"
            )
    formats = {_file_format(p) for p in paths}
    if None in formats:
        bad = next(p for p in paths if _file_format(p) is None)
        raise DataError(
            bad,
            f"the Ray engine reads JSON Lines ({', '.join(_JSONL_SUFFIXES)}) or Parquet "
            f"({', '.join(_PARQUET_SUFFIXES)}); convert the file, or score it without --engine ray",
        )
    if len(formats) > 1:
        raise DataError(
            paths[0], "the inputs mix JSONL and Parquet shards; score each format separately"
        )
    return paths, formats.pop()


# --- reading shards ----------------------------------------------------------------------------


def _shard_source(paths: list[str], fmt: str) -> Any:
    """A Ray datasource over the shards, in order.

    JSON Lines: each non-blank line, unparsed, with its ``path:line`` (split on ``\\n`` only, as
    the single-machine reader does; ``str.splitlines`` would also split on U+2028 inside a JSON
    string). Parquet: the file's record batches as they are. (Ray's own Parquet reader lists
    files from several threads, which races on an optional fsspec import in Ray 2.60.)
    """
    from ray.data.datasource import FileBasedDatasource

    class ShardSource(FileBasedDatasource):
        def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
            if fmt == "jsonl":
                return super()._open_input_source(filesystem, path, **open_args)
            return filesystem.open_input_file(path)  # Parquet needs random access (its footer)

        def _read_stream(self, f: Any, path: str) -> Any:
            if fmt == "jsonl":
                try:
                    yield _jsonl_block(f.readall(), path)
                except DataError as exc:
                    raise _WorkerError.wrap(exc) from None
                return
            import pyarrow as pa
            import pyarrow.parquet as pq

            row = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=RAY_BATCH_ROWS):
                # Each row's file and 1-based row number, so that an error can name them.
                where = [f"{path}:{row + i + 1}" for i in range(batch.num_rows)]
                row += batch.num_rows
                table = pa.Table.from_batches([batch])
                yield table.append_column(_WHERE, pa.array(where, pa.string()))

    return ShardSource(paths)


def _jsonl_block(data: bytes, path: str) -> Any:
    import pyarrow as pa

    from stance.data.io import _decode

    lines, where = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line, problem = _decode(raw)
        if problem is not None:
            raise DataError(path, problem, line=number)
        if line.strip():
            lines.append(line.removeprefix("\ufeff") if number == 1 else line)
            where.append(f"{path}:{number}")
    return pa.table({_LINE: pa.array(lines, pa.string()), _WHERE: pa.array(where, pa.string())})


# --- the per-worker kernel --------------------------------------------------------------------


class _BatchScorer:
    """A Ray Data callable class: the predictor is loaded once per worker, in ``__init__``.

    Each batch goes through :func:`predict_file` (the single-machine path) as a small JSONL file
    in a worker-local temporary directory; the JSON round trip is exact (``repr`` floats) and
    costs far less than the model.
    """

    def __init__(self, model_dir: str, fmt: str, source: str, load_options: dict, options: dict):
        from stance.inference.predictor import load

        try:
            self.predictor = load(model_dir, **load_options)
        except StanceError as exc:
            raise _WorkerError.wrap(exc) from None
        self.fmt, self.source, self.options = fmt, source, options
        self.tmp = Path(tempfile.mkdtemp(prefix="stance-ray-"))
        self.added = self._added_columns()

    def _kernel(self, lines: list[str]) -> tuple[list[str], list[dict[str, Any]], int]:
        """predict_file on JSONL ``lines``: its output lines, their records, texts truncated."""
        from stance.inference.predictor import predict_file

        source, target = self.tmp / "in.jsonl", self.tmp / "out.jsonl"
        source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        summary = predict_file(
            source, target, self.predictor, chunk_rows=RAY_BATCH_ROWS, **self.options
        )
        out = target.read_text(encoding="utf-8").split("\n")[:-1]
        return out, [json.loads(line) for line in out], summary.truncated

    def _added_columns(self) -> dict[str, Any]:
        """The columns the single-machine path adds, with Arrow types read off one probe row."""
        import pyarrow as pa

        text_column = self.options["text_column"]
        _, (record,), _ = self._kernel([json.dumps({text_column: "probe"})])
        types = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_()}
        return {k: types[type(v)] for k, v in record.items() if k != text_column}

    def __call__(self, batch: Any) -> Any:
        try:
            return self._score(batch)
        except StanceError as exc:
            raise _WorkerError.wrap(exc) from None

    def _score(self, batch: Any) -> Any:
        if self.fmt == "jsonl":
            lines = batch.column(_LINE).to_pylist()
            out, records, cut = self._run(lines, batch.column(_WHERE).to_pylist())
            return self._with_bookkeeping({_LINE: out}, records, cut)
        return self._score_table(batch)

    def _score_table(self, table: Any) -> Any:
        """Parquet: only the text column goes through the kernel; the added columns are appended."""
        import pyarrow as pa

        from stance.inference.predictor import _check_clash

        where = table.column(_WHERE).to_pylist()
        table = table.drop_columns([_WHERE])
        text_column = self.options["text_column"]
        if text_column not in table.column_names:
            raise DataError(
                self.source,
                f"missing column {text_column!r} (found columns: {', '.join(table.column_names)}); "
                "choose one with --text-column",
            )
        _check_clash(Path(self.source), None, table.column_names, list(self.added))
        texts = table.column(text_column).to_pylist()
        # A value JSON cannot hold (bytes...) becomes an object, which the kernel reports as such.
        lines = [
            json.dumps({text_column: t}, default=lambda o: {type(o).__name__: None}) for t in texts
        ]
        _, records, cut = self._run(lines, where)
        for name, kind in self.added.items():
            table = table.append_column(name, pa.array([r.get(name) for r in records], type=kind))
        return self._with_bookkeeping(table, records, cut)

    def _with_bookkeeping(self, batch: Any, records: list[dict[str, Any]], cut: int) -> Any:
        import pyarrow as pa

        label_column = self.options["label_column"]
        labels = [r.get(label_column) or None for r in records]
        cuts = [cut] + [0] * (len(records) - 1) if records else []
        table = batch if isinstance(batch, pa.Table) else pa.table(batch)
        table = table.append_column(_LABEL, pa.array(labels, type=pa.string()))
        return table.append_column(_CUT, pa.array(cuts, type=pa.int64()))

    def _run(self, lines: list[str], where: list[str] | None) -> tuple[list[str], list[dict], int]:
        """The kernel, its errors pointing at the input shard and line instead of the temp file."""
        try:
            return self._kernel(lines)
        except DataError as exc:
            if exc.line is None or where is None:
                raise DataError(self.source, exc.message) from None
            path, _, line = where[exc.line - 1].rpartition(":")
            message = exc.message
            if int(line) > 1:  # first in its batch, not in its file: say what a file reader says
                message = json_line_problem(lines[exc.line - 1]) or message
            raise DataError(path, message, line=int(line)) from None


# --- writing shards -------------------------------------------------------------------------------


def _shard_sink(path: str, fmt: str) -> Any:
    """A Ray datasink writing ``part-NNNNN.<fmt>`` shards (numbered in row order) and counting
    rows, labels and truncations on the way (the counts come back to the driver)."""
    from ray.data.block import BlockAccessor
    from ray.data.datasource import BlockBasedFileDatasink, FilenameProvider

    class PartNames(FilenameProvider):
        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:05d}.{fmt}"

    class ShardSink(BlockBasedFileDatasink):
        def write_block_to_file(self, block: Any, file: Any) -> None:
            table = block.to_arrow()
            if fmt == "jsonl":
                file.write(
                    "".join(line + "\n" for line in table.column(_LINE).to_pylist()).encode()
                )
                return
            import pyarrow.parquet as pq

            pq.write_table(table.drop_columns([_LABEL, _CUT]), file)

        def write(self, blocks: Any, ctx: Any) -> dict[str, int]:
            blocks = list(blocks)
            super().write(blocks, ctx)
            counts: Counter = Counter()
            for block in blocks:
                table = BlockAccessor.for_block(block).to_arrow()
                counts["rows"] += table.num_rows
                counts["truncated"] += sum(table.column(_CUT).to_pylist())
                counts.update(f"label:{label}" for label in table.column(_LABEL).to_pylist())
            return dict(counts)

        def on_write_complete(self, write_result: Any) -> None:
            super().on_write_complete(write_result)
            for counts in write_result.write_returns:
                self.counts.update(counts or {})

    sink = ShardSink(path, filename_provider=PartNames(), file_format=fmt)
    sink.counts = Counter()  # filled on the driver by on_write_complete
    return sink


# --- the driver -----------------------------------------------------------------------------------


def _staging_dir(output_dir: str | Path) -> tuple[str, str | None]:
    """Where Ray writes: a hidden sibling of a local ``output_dir`` (renamed into place at the
    end, so an interrupted run never leaves a half-written output), or a URI as given."""
    if "://" in str(output_dir):
        return str(output_dir), None
    target = Path(output_dir).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            target,
            "the output directory exists and is not empty; choose a new directory or remove it",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"), str(target)


def _connect(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local instance with
    ``num_cpus`` CPUs. True when this call started Ray (and so shuts it down)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"address": address, "log_to_driver": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    ray.init(**kwargs)
    return True


class _WorkerError(Exception):
    """A package error raised on a worker, in a form that survives Ray's pickling
    (``DataError``'s constructor does not take its own message back)."""

    def __init__(self, kind: str, path: str | None, message: str, line: int | None):
        super().__init__(message)
        self.fields = (kind, path, message, line)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self.fields

    @classmethod
    def wrap(cls, exc: StanceError) -> _WorkerError:
        if isinstance(exc, DataError):
            return cls("DataError", exc.path, exc.message, exc.line)
        return cls(type(exc).__name__, None, str(exc), None)

    def unwrap(self) -> StanceError:
        kind, path, message, line = self.fields
        if kind == "DataError":
            return DataError(path, message, line=line)
        return {"ModelError": ModelError, "ConfigError": ConfigError}.get(kind, StanceError)(
            message
        )


def _stance_error(exc: BaseException | None) -> StanceError | None:
    """The package error a worker raised, from inside Ray's wrappers (None if there is none)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _WorkerError):
            return exc.unwrap()
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else exc.__cause__
    return None


def _max_length(model_dir: str) -> int | None:
    """The model's recorded max_length, for the truncation warning (None when the directory
    lives on the cluster's workers only, or records none)."""
    try:
        meta = json.loads((Path(model_dir) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("max_length") if isinstance(meta, dict) else None


def _model_dir(model: str | Path | None, address: str | None) -> str:
    from stance.inference.predictor import resolve_model_dir

    model_dir = resolve_model_dir(model).absolute()
    # On a cluster the directory must exist on the workers; locally it must exist here.
    if address is None and not (model_dir / "metadata.json").is_file():
        raise ModelError(
            f"{model_dir}: no metadata.json, so not a model directory; train one with "
            "`stance train --config ...` or pass --model DIR"
        )
    return str(model_dir)


def predict_files_ray(
    inputs: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    model: str | Path | None = None,
    *,
    text_column: str = "text",
    batch_size: int = DEFAULT_BATCH_SIZE,
    address: str | None = None,
    num_cpus: int | None = None,
    num_workers: int | None = None,
    skip_invalid: bool = False,
    label_column: str = "label",
    prob_prefix: str = "p_",
    **load_options: Any,
) -> RaySummary:
    """Score sharded JSONL or Parquet on Ray Data; write shards with the predictions added.

    The output directory gets ``part-00000.<fmt>``, ``part-00001.<fmt>``, ... in the input's
    format: every input column, the input's row order (shards in name order, then lines), and
    the columns the single-machine :func:`~stance.inference.predictor.predict_file` adds.
    Concatenated, the JSONL shards are byte-for-byte what the single-machine path writes.

    Args:
        inputs: a file, a glob or a directory of shards (or a list of them); URIs such as
            ``s3://bucket/quotes/`` go to Ray as they are.
        output_dir: a new (or empty) directory; a local one is written beside it and renamed
            into place at the end.
        model: a model directory (see :func:`~stance.inference.predictor.resolve_model_dir`);
            on a cluster it must exist at this path on every worker.
        text_column: the column holding the statements.
        batch_size: texts per forward pass.
        address: a running cluster (``ray://head:10001``, ``auto``); default ``$RAY_ADDRESS``,
            else a Ray instance started on this machine for this call. If Ray is already
            initialised in this process, that instance is used.
        num_cpus: CPUs of the local instance (default: all of this machine's).
        num_workers: predictor workers (default: one per CPU of the cluster, as Ray scales).
        skip_invalid, label_column, prob_prefix: as for ``predict_file``.
        **load_options: passed to :func:`~stance.inference.predictor.load` on each worker
            (``backend``, ``device``, ``precision``).

    Returns:
        A :class:`RaySummary`.

    Raises:
        StanceError: Ray is not installed (says ``pip install "stance[ray]"``).
        DataError: no input, a format other than JSONL/Parquet, a bad row (``shard:line``),
            an input column the predictions would overwrite, or a non-empty output directory.
        ModelError: the model is missing or broken.
    """
    paths, fmt = input_files(inputs)
    model_dir = _model_dir(model, address)
    ray = _import_ray()
    staging, target = _staging_dir(output_dir)
    options = {"text_column": text_column, "batch_size": batch_size, "skip_invalid": skip_invalid,
               "label_column": label_column, "prob_prefix": prob_prefix}  # fmt: skip
    load_options = {k: v for k, v in load_options.items() if v is not None}
    started = _connect(ray, address, num_cpus)
    error: StanceError | None = None
    try:
        sink = _run_pipeline(
            ray, paths, fmt, staging, model_dir, load_options, options, num_workers
        )
    except Exception as exc:
        if target is not None:
            shutil.rmtree(staging, ignore_errors=True)
        error = _stance_error(exc)
        if error is None:
            raise
    finally:
        if started:
            ray.shutdown()
    if error is not None:
        # Raised outside the except block: chained to Ray's error, it would keep the failed
        # run's frames, and with them its worker actors and their CPUs, alive.
        raise error
    return _finish(sink, staging, target, fmt, _max_length(model_dir))


def _run_pipeline(
    ray: Any, paths: list[str], fmt: str, staging: str, model_dir: str,
    load_options: dict[str, Any], options: dict[str, Any], num_workers: int | None,
) -> Any:  # fmt: skip
    """read -> map_batches(one predictor per worker) -> write, in the input's row order."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # shard names follow row order
    context.raise_original_map_exception = True  # a worker's error, not "UDF failed"
    ds = ray.data.read_datasource(_shard_source(paths, fmt))
    workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    source = paths[0] if len(paths) == 1 else f"{paths[0]} (or another of {len(paths)} shards)"
    ds = ds.map_batches(
        _BatchScorer,
        fn_constructor_args=(model_dir, fmt, source, load_options, options),
        batch_size=RAY_BATCH_ROWS,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=1,
    )
    sink = _shard_sink(staging, fmt)
    ds.write_datasink(sink)
    return sink


def _finish(sink: Any, staging: str, target: str | None, fmt: str,
            max_length: int | None) -> RaySummary:  # fmt: skip
    counts = sink.counts
    labels = {
        k.split(":", 1)[1]: n
        for k, n in counts.items()
        if k.startswith("label:") and k != "label:None"
    }
    output: Path | str = staging
    if target is not None:
        os.makedirs(staging, exist_ok=True)  # Ray writes no directory for zero rows
        if os.path.isdir(target):
            os.rmdir(target)  # empty (checked before the run)
        os.replace(staging, target)
        output = Path(target)
    files = sorted(p.name for p in Path(output).iterdir()) if isinstance(output, Path) else []
    predicted = sum(labels.values())
    cut = counts["truncated"]
    return RaySummary(
        rows=counts["rows"], predicted=predicted, skipped=counts["rows"] - predicted,
        truncated=cut, output=output, files=files, label_counts=labels,
        warnings=[truncation_message(cut, predicted, max_length)] if cut else [],
    )  # fmt: skip
