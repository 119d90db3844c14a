"""The Ray Data path (``stance predict --engine ray``) on a local 2-CPU Ray instance.

It must agree exactly with the single-machine path (``predict_file``): labels, probabilities,
row order and columns, for JSON Lines and Parquet.
"""

from __future__ import annotations

import builtins
import json
import random
from pathlib import Path

import pytest

from stance.errors import DataError, StanceError
from stance.inference.distributed import input_files, predict_files_ray
from stance.inference.predictor import predict_file

ray = pytest.importorskip("ray", reason="the ray extra is in the test extra; install stance[test]")
pq = pytest.importorskip("pyarrow.parquet")

N_ROWS = 3000
WORDS = (
    "vanguard GP federation funding only if staff money patients control reorganisation works "
    "scrap support oppose back evidence hubs neighbourhood teams will deliver not top-down"
).split()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module: this machine only, 2 CPUs, no dashboard."""
    # Ray gives its raylet a fixed 30 s to register; on a busy 2-core machine that can run out
    # (a start-up failure, not a failure of the code under test), so start it a second time.
    for attempt in (1, 2):
        try:
            ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True,
                     log_to_driver=False)  # fmt: skip
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """3,000 short texts with extra columns of several types (and unicode line separators)."""
    rng = random.Random(18)
    out = []
    for i in range(N_ROWS):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        if i % 500 == 7:
            text += " \u2028caf\u00e9"  # a raw line separator inside a JSON string
        out.append({"id": f"q{i:05d}", "text": text, "year": 2015 + i % 9, "weight": i / 7})
    return out


def _write_shards(root: Path, rows: list[dict], fmt: str, n: int = 4) -> Path:
    import pyarrow as pa

    root.mkdir(parents=True)
    size = -(-len(rows) // n)
    for k in range(n):
        part = rows[k * size : (k + 1) * size]
        if fmt == "jsonl":
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
            (root / f"shard-{k}.jsonl").write_text(lines, encoding="utf-8")
        else:
            pq.write_table(pa.Table.from_pylist(part), root / f"shard-{k}.parquet")
    return root


def _single_machine(rows: list[dict], model: Path, tmp_path: Path) -> list[dict]:
    source = tmp_path / "all.jsonl"
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    predict_file(source, tmp_path / "single.jsonl", model)
    return (tmp_path / "single.jsonl").read_text(encoding="utf-8")


def test_jsonl_shards_agree_byte_for_byte_with_the_single_machine_path(
    local_ray, rows, baseline_model, tmp_path
):
    shards = _write_shards(tmp_path / "in", rows, "jsonl")
    summary = predict_files_ray(shards, tmp_path / "out", model=baseline_model, batch_size=256)

    expected = _single_machine(rows, baseline_model, tmp_path)
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == summary.files and all(f.suffix == ".jsonl" for f in files)
    got = "".join(f.read_text(encoding="utf-8") for f in files)
    assert got == expected  # same columns, same order, same floats to the last bit
    records = [json.loads(line) for line in got.split("\n")[:-1]]
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert summary.rows == summary.predicted == N_ROWS and summary.skipped == 0
    labels = [r["label"] for r in records]
    assert summary.label_counts == {k: labels.count(k) for k in set(labels)}


def test_parquet_shards_agree_with_the_single_machine_path(
    local_ray, rows, baseline_model, tmp_path
):
    shards = _write_shards(tmp_path / "in", rows, "parquet")
    summary = predict_files_ray(str(shards / "*.parquet"), tmp_path / "out", model=baseline_model)

    expected = [
        json.loads(line) for line in _single_machine(rows, baseline_model, tmp_path).splitlines()
    ]
    table = pq.read_table(sorted((tmp_path / "out").glob("*.parquet")))
    got = table.to_pylist()
    assert table.column_names == list(expected[0])  # input columns, then the added ones, in order
    assert table.schema.field("year").type == "int64"  # input types kept
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    probs = [k for k in expected[0] if k.startswith("p_")]
    assert probs
    worst = max(abs(g[k] - e[k]) for g, e in zip(got, expected) for k in probs)
    assert worst <= 1e-9
    assert summary.rows == N_ROWS


def test_bad_row_is_reported_at_its_shard_and_line(local_ray, rows, baseline_model, tmp_path):
    shards = _write_shards(tmp_path / "in", rows[:40], "jsonl", n=2)
    lines = (shards / "shard-1.jsonl").read_text(encoding="utf-8").splitlines()
    lines[4] = json.dumps({"id": "bad", "text": "   "})
    (shards / "shard-1.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = predict_files_ray(shards, tmp_path / "kept", model=baseline_model, skip_invalid=True)
    assert (summary.rows, summary.skipped) == (40, 1)
    with pytest.raises(DataError, match=r"shard-1\.jsonl:5: 'text' is empty") as info:
        predict_files_ray(shards, tmp_path / "out", model=baseline_model)
    assert "\n" not in str(info.value) and info.value.__context__ is None
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_bad_parquet_row_is_reported_at_its_file_and_row(local_ray, rows, baseline_model, tmp_path):
    """Parquet has no lines: the error names the shard and the 1-based row within it."""
    bad = [dict(r) for r in rows[:40]]
    bad[24]["text"] = "   "  # shard-1 holds rows 20-39: its 5th row
    shards = _write_shards(tmp_path / "in", bad, "parquet", n=2)
    # The failing run last, as in the JSONL test: a failed run's actors linger in this session.
    summary = predict_files_ray(
        str(shards / "*.parquet"), tmp_path / "kept", model=baseline_model, skip_invalid=True
    )
    table = pq.read_table(sorted((tmp_path / "kept").glob("*.parquet")))
    assert summary.skipped == 1 and "__stance_where" not in table.column_names
    with pytest.raises(DataError, match=r"shard-1\.parquet:5: 'text' is empty") as info:
        predict_files_ray(str(shards / "*.parquet"), tmp_path / "out", model=baseline_model)
    assert "another of" not in str(info.value)


def test_inputs_and_output_are_checked_before_ray_starts(baseline_model, tmp_path):
    (tmp_path / "q.csv").write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(DataError, match="reads JSON Lines"):
        input_files(tmp_path / "q.csv")
    with pytest.raises(DataError, match="no JSONL or Parquet file"):
        input_files(str(tmp_path / "nothing-*.jsonl"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"text": "hi"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="exists and is not empty"):
        predict_files_ray(tmp_path / "in.jsonl", tmp_path / "out", model=baseline_model)


def test_missing_extra_is_one_line_naming_the_extra(monkeypatch, baseline_model, tmp_path):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    (tmp_path / "in.jsonl").write_text('{"text": "hi"}\n', encoding="utf-8")
    with pytest.raises(StanceError, match=r'pip install "stance\[ray\]"') as info:
        predict_files_ray(tmp_path / "in.jsonl", tmp_path / "out", model=baseline_model)
    assert "\n" not in str(info.value)
