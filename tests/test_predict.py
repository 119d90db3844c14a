"""Inference: stance.predict / stance.load, the file round trip, the CLI and the ONNX backend.

Everything runs on the session's tiny models (conftest: baseline_model, transformer_model).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import stance
from stance.cli import app
from stance.errors import ConfigError, DataError, ModelError
from stance.inference.predictor import (
    Prediction,
    TruncationWarning,
    clear_cache,
    load,
    predict,
    predict_file,
)

runner = CliRunner()
# Long probe texts warn on purpose; the tests that check the warning record it themselves.
pytestmark = pytest.mark.filterwarnings("ignore::stance.inference.predictor.TruncationWarning")

TEXTS = [
    "Federations have given our practices a real voice.",
    "Scrap the vanguard before it swallows general practice.",
    "We would back the network only if the funding is recurrent.",
    "The PCN is working.",
]
LONG = "The integrated care board will decide what happens to the neighbourhood teams. " * 12
ODD = [
    "Emoji 😀🚑🏥 and flags 🇬🇧",
    "Control \x00\x01\x07\x1b[31m characters\x7f",
    "Mixed scripts: ΝΗΣ Здравоохранение 国民保健サービス שירות بريطانيا",
    "Zero width \u200b\u200d joiners \ufeff and RTL \u202e marks",
    "Lone surrogate \ud800 from a JSON escape",
    "\u200b",
    "a",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def tiny_transformer_copy(transformer_model, tmp_path_factory) -> Path:
    """A private copy of the tiny transformer (ONNX exports are cached inside it)."""
    target = tmp_path_factory.mktemp("onnx_model") / "model"
    shutil.copytree(transformer_model, target)
    return target


@pytest.fixture(params=["baseline", "transformer"])
def any_model(request) -> Path:
    return request.getfixturevalue(f"{request.param}_model")


def _check_prediction(p: Prediction, labels=stance.LABELS) -> None:
    assert isinstance(p, Prediction)
    assert tuple(p.scores) == tuple(labels)
    assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= v <= 1.0 for v in p.scores.values())
    assert p.label == max(p.scores, key=p.scores.get)
    assert p.confidence == p.scores[p.label]


# --- the Python API -------------------------------------------------------------------------------


def test_public_names():
    from stance import predict as imported

    assert stance.predict is imported is predict
    assert stance.load is load


def test_single_string_gives_one_prediction(any_model):
    p = stance.predict(TEXTS[0], model=any_model, device="cpu")
    _check_prediction(p)
    assert json.loads(json.dumps(p.to_dict())) == {
        "label": p.label, "confidence": p.confidence, "scores": p.scores,
        "needs_review": p.needs_review, "raw_scores": p.raw_scores,
    }  # fmt: skip


@pytest.mark.parametrize("container", [list, tuple, iter, lambda xs: (x for x in xs)])
def test_iterables_give_lists_in_order(any_model, container):
    clf = load(any_model, device="cpu")
    one_by_one = [clf.predict(t) for t in TEXTS]
    many = stance.predict(container(TEXTS), model=any_model, device="cpu")
    assert isinstance(many, list) and len(many) == len(TEXTS)
    for a, b in zip(many, one_by_one):
        _check_prediction(a)
        assert a.label == b.label
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_order_does_not_depend_on_batch_size_or_length_sorting(transformer_model):
    clf = load(transformer_model, device="cpu")
    texts = [TEXTS[i % 4] * (1 + i % 3) for i in range(11)]  # lengths deliberately unsorted
    a = clf.predict_proba(texts, batch_size=1)
    b = clf.predict_proba(texts, batch_size=4)
    c = clf.predict_proba(texts[::-1], batch_size=64)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_empty_inputs_give_empty_lists(any_model):
    assert stance.predict([], model=any_model) == []
    assert stance.predict(iter(()), model=any_model) == []


def test_predict_iter_streams_in_order(baseline_model):
    clf = load(baseline_model)
    texts = [TEXTS[i % 4] + f" ({i})" for i in range(25)]
    streamed = list(clf.predict_iter((t for t in texts), chunk_size=4))
    assert [p.scores for p in streamed] == [p.scores for p in clf.predict(texts)]
    with pytest.raises(ValueError, match="item 13"):
        list(clf.predict_iter(texts[:13] + ["  "], chunk_size=4))


def test_load_is_cached_and_predict_does_not_reload(baseline_model, monkeypatch):
    from stance.models.baseline import BaselinePredictor

    calls = []
    real = BaselinePredictor.from_dir.__func__

    def counting(cls, *args, **kwargs):
        calls.append(args[0])
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(BaselinePredictor, "from_dir", classmethod(counting))
    for _ in range(3):
        stance.predict(TEXTS, model=baseline_model)
    stance.predict(TEXTS[0], model=str(baseline_model))  # same directory as a string
    stance.predict(TEXTS[0], model=baseline_model, device=None)  # None = option not given
    assert len(calls) == 1
    assert load(baseline_model) is load(baseline_model)
    clear_cache()
    stance.predict(TEXTS[0], model=baseline_model)
    assert len(calls) == 2


def test_retrained_model_in_same_place_is_reloaded(baseline_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    first = load(model)
    meta = model / "metadata.json"
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load(model) is not first


def test_a_retrained_model_replaces_its_cache_entry(baseline_model, tmp_path):
    """A long-running process that picks up retrained models keeps one per directory and
    options, not every version it ever loaded; a restore that keeps the mtime is seen too."""
    import stance.inference.predictor as predictor_module

    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    first = load(model)
    meta = model / "metadata.json"
    stat = meta.stat()
    text = meta.read_bytes()
    fresh = model / "metadata.json.new"  # a new file with the old mtime, as rsync -a restores it
    fresh.write_bytes(text)
    os.utime(fresh, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(fresh, meta)
    second = load(model)
    assert second is not first and load(model) is second
    keys = [k for k in predictor_module._cache if k[0] == str(model.resolve())]
    assert len(keys) == 1


def test_unknown_options_are_refused_for_every_kind(baseline_model, transformer_model):
    with pytest.raises(TypeError, match="unknown option.*devcie.*baseline"):
        load(baseline_model, devcie="cpu")
    with pytest.raises(TypeError, match="unknown option.*precison"):
        stance.predict(TEXTS[0], model=transformer_model, precison="fp32")
    assert load(baseline_model, device="cpu", precision="fp32").kind == "baseline"


def test_precision_with_an_onnx_backend_is_a_one_line_error(transformer_model):
    """A StanceError (and still a ValueError): the CLI prints it as one line, no traceback."""
    with pytest.raises(ConfigError, match="precision='bf16' applies to the torch backend"):
        load(transformer_model, backend="onnx", precision="bf16")
    result = runner.invoke(app, ["predict", "--model", str(transformer_model), "--backend",
                                 "onnx", "--precision", "bf16", "We back it."])  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("error: ") and "applies to the torch backend" in result.output


def test_options_with_a_loaded_predictor_are_refused(baseline_model):
    clf = load(baseline_model)
    assert stance.predict(TEXTS[0], model=clf).label in stance.LABELS
    with pytest.raises(TypeError, match="already loaded"):
        stance.predict(TEXTS[0], model=clf, device="cpu")


def test_default_model_rule(baseline_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STANCE_MODEL", raising=False)
    with pytest.raises(
        ModelError, match=r"models/transformer/ does not exist; train one with `stance train"
    ):
        stance.predict(TEXTS[0])
    monkeypatch.setenv("STANCE_MODEL", str(baseline_model))
    assert load().model_dir == Path(baseline_model).resolve()
    monkeypatch.delenv("STANCE_MODEL")
    shutil.copytree(baseline_model, tmp_path / "models" / "transformer")
    assert load().model_dir == (tmp_path / "models" / "transformer").resolve()
    _check_prediction(stance.predict(TEXTS[0]))


def test_device_option(transformer_model, baseline_model):
    assert load(transformer_model, device="cpu").device.type == "cpu"
    assert load(baseline_model, device="cpu").kind == "baseline"  # accepted, irrelevant
    with pytest.raises(ModelError, match="not a torch device"):
        load(transformer_model, device="quantum")


def test_backend_option_is_checked(baseline_model, transformer_model):
    with pytest.raises(ValueError, match="backend must be one of torch, onnx, onnx-int8"):
        load(transformer_model, backend="tensorrt")
    with pytest.raises(ModelError, match="only applies to transformer models"):
        load(baseline_model, backend="onnx")
    assert load(baseline_model, backend="torch").kind == "baseline"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, TypeError, "found NoneType"),
        (42, TypeError, "found int"),
        (b"bytes", TypeError, "decode it to str"),
        ({"text": "a dict"}, TypeError, "found dict"),
        (["fine", None], TypeError, "item 1: expected a string, found NoneType"),
        (["fine", "also fine", 3.5], TypeError, "item 2: expected a string, found float"),
        (["fine", ""], ValueError, "item 1: text is empty"),
        (["fine", " \t\n "], ValueError, "item 1: text is empty"),
        ("", ValueError, "text: text is empty"),
        ("   ", ValueError, "text: text is empty"),
    ],
)
def test_bad_input_names_the_index(any_model, value, error, match):
    with pytest.raises(error, match=match):
        stance.predict(value, model=any_model)


def test_bad_item_fails_before_any_inference(baseline_model, monkeypatch):
    clf = load(baseline_model)
    called = []
    monkeypatch.setattr(clf, "predict_proba_counted", lambda *a, **k: called.append(1))
    with pytest.raises(ValueError, match="item 3"):
        clf.predict(TEXTS[:3] + [""])
    assert not called


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True])
def test_bad_batch_size(baseline_model, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        stance.predict(TEXTS, model=baseline_model, batch_size=batch_size)


def test_truncation_warns_once_with_count(transformer_model):
    clf = load(transformer_model, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = stance.predict([LONG, TEXTS[0], LONG + "!", LONG[:-3]], model=clf, batch_size=1)
    mine = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(mine) == 1, [str(w.message) for w in caught]
    assert "3 of 4 text(s)" in str(mine[0].message)
    assert f"({clf.max_length} tokens)" in str(mine[0].message)
    assert len(preds) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        stance.predict(TEXTS, model=clf)  # nothing long: no warning


def test_truncation_warning_is_one_for_a_whole_stream(transformer_model):
    clf = load(transformer_model, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = list(clf.predict_iter([LONG] * 5 + TEXTS, chunk_size=2))
    mine = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(preds) == 9 and len(mine) == 1 and "5 of 9 text(s)" in str(mine[0].message)


def test_baseline_never_warns_about_length(baseline_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        _check_prediction(stance.predict(LONG * 20, model=baseline_model))


def test_odd_unicode_never_crashes(any_model):
    preds = stance.predict(ODD, model=any_model, device="cpu")
    assert len(preds) == len(ODD)
    for p in preds:
        _check_prediction(p)
    for text in ODD:
        _check_prediction(stance.predict(text, model=any_model, device="cpu"))


# --- broken model directories ---------------------------------------------------------------------


def _copy(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model, target)
    return target


def test_missing_model_dir_is_named(tmp_path):
    with pytest.raises(ModelError, match=f"{tmp_path / 'nope'}: model directory not found"):
        stance.predict(TEXTS[0], model=tmp_path / "nope")


@pytest.mark.parametrize("kind", ["baseline", "transformer"])
def test_missing_metadata_is_named(kind, request, tmp_path):
    model = _copy(request.getfixturevalue(f"{kind}_model"), tmp_path)
    (model / "metadata.json").unlink()
    with pytest.raises(ModelError, match=r"metadata\.json: missing"):
        load(model)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"kind": "rnn", "labels": ["a"]}'])
def test_corrupt_metadata_is_named(baseline_model, tmp_path, content):
    model = _copy(baseline_model, tmp_path)
    (model / "metadata.json").write_text(content)
    with pytest.raises(ModelError, match=r"metadata\.json: "):
        load(model)


@pytest.mark.parametrize(
    ("kind", "name", "damage"),
    [
        ("baseline", "model.skops", "delete"),
        ("baseline", "model.skops", "truncate"),
        ("transformer", "model.safetensors", "delete"),
        ("transformer", "model.safetensors", "truncate"),
        ("transformer", "config.json", "delete"),
        ("transformer", "tokenizer.json", "delete"),
        ("transformer", "tokenizer.json", "truncate"),
    ],
)
def test_incomplete_or_corrupt_model_names_the_file(kind, name, damage, request, tmp_path):
    model = _copy(request.getfixturevalue(f"{kind}_model"), tmp_path)
    path = model / name
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelError, match=rf"{name.replace('.', '[.]')}: "):
        load(model, device="cpu")
    if kind == "transformer":
        with pytest.raises(ModelError, match=rf"{name.replace('.', '[.]')}: "):
            load(model, backend="onnx")


def test_cli_broken_model_is_one_error_line(tmp_path):
    result = runner.invoke(app, ["predict", "We back it.", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert (
        result.output.strip().startswith("error: ") and "model directory not found" in result.output
    )
    assert "Traceback" not in result.output


# --- files ----------------------------------------------------------------------------------------

ROWS = [
    {"id": "r1", "text": TEXTS[0], "speaker": "GP", "n": 1},
    {"id": "r2", "text": TEXTS[1], "speaker": None, "n": 2.5},
    {"id": "r3", "text": 'Commas, "quotes" and\na line break', "speaker": "Ann, Lee", "n": 3},
    {"id": "r4", "text": TEXTS[2], "speaker": "Zoë 😀", "n": 4},
    {"id": "r5", "text": TEXTS[3], "speaker": "x", "n": 5},
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return path


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_jsonl_round_trip_keeps_columns_and_order(any_model, tmp_path):
    source = _write_jsonl(tmp_path / "in.jsonl", ROWS)
    summary = predict_file(source, tmp_path / "out.jsonl", any_model, chunk_rows=2, batch_size=2)
    out = [
        json.loads(line)
        for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    expected = stance.predict([r["text"] for r in ROWS], model=any_model)
    assert summary.rows == summary.predicted == len(ROWS) and summary.skipped == 0
    assert len(out) == len(ROWS)
    for row, got, p in zip(ROWS, out, expected):
        assert list(got)[: len(row)] == list(row)  # every input column kept, first, in order
        assert {k: got[k] for k in row} == row
        assert list(got)[len(row) :] == [
            "label",
            "p_support",
            "p_oppose",
            "p_conditional",
            "needs_review",
        ]
        assert got["label"] == p.label
        assert [got[f"p_{lb}"] for lb in stance.LABELS] == pytest.approx(
            list(p.scores.values()), abs=1e-6
        )
    assert sum(summary.label_counts.values()) == len(ROWS)


def test_csv_round_trip_keeps_columns_and_order(any_model, tmp_path):
    source = _write_csv(tmp_path / "in.csv", ROWS)
    predict_file(source, tmp_path / "out.csv", any_model, chunk_rows=3)
    out = _read_csv(tmp_path / "out.csv")
    original = _read_csv(source)
    expected = stance.predict([r["text"] for r in original], model=any_model)
    assert list(out[0]) == list(original[0]) + [
        "label",
        "p_support",
        "p_oppose",
        "p_conditional",
        "needs_review",
    ]
    for row, got, p in zip(original, out, expected, strict=True):
        assert {k: got[k] for k in row} == row
        assert got["label"] == p.label
        probs = [float(got[f"p_{lb}"]) for lb in stance.LABELS]
        # Other batch companions change the float rounding a little (not the results).
        assert probs == pytest.approx(list(p.scores.values()), abs=1e-6)
        assert sum(probs) == pytest.approx(1.0)


def test_other_text_column_and_prediction_column_names(baseline_model, tmp_path):
    rows = [{"quote": t, "label": "support"} for t in TEXTS]
    source = _write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(
        DataError, match=r"in\.jsonl:1: .*already has column\(s\) label.*--label-column"
    ):
        predict_file(source, tmp_path / "out.jsonl", baseline_model, text_column="quote")
    predict_file(
        source, tmp_path / "out.jsonl", baseline_model, text_column="quote",
        label_column="predicted", prob_prefix="prob_",
    )  # fmt: skip
    got = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert got["label"] == "support"  # the gold label is untouched
    assert set(got) == {
        "quote",
        "label",
        "predicted",
        "prob_support",
        "prob_oppose",
        "prob_conditional",
        "needs_review",
    }


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_bad_row_error_names_file_and_line(baseline_model, tmp_path, fmt):
    rows = [dict(r) for r in ROWS]
    rows[3]["text"] = "   "
    source = (_write_jsonl if fmt == "jsonl" else _write_csv)(tmp_path / f"in.{fmt}", rows)
    # The CSV's third row spans two physical lines (a quoted line break): row 4 ends on line 6.
    line = 4 if fmt == "jsonl" else 6
    with pytest.raises(DataError, match=rf"in\.{fmt}:{line}: 'text' is empty or whitespace only"):
        predict_file(source, tmp_path / f"out.{fmt}", baseline_model)
    assert not (tmp_path / f"out.{fmt}").exists()
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(baseline_model),
            "--input",
            str(source),
            "--output",
            str(tmp_path / f"out.{fmt}"),
        ],
    )
    assert result.exit_code == 1
    assert (
        f"in.{fmt}:{line}: 'text' is empty" in result.output and "--skip-invalid" in result.output
    )
    assert not (tmp_path / f"out.{fmt}").exists()


@pytest.mark.parametrize("bad", [None, 7, "", "  ", "missing"])
def test_jsonl_bad_text_values(baseline_model, tmp_path, bad):
    rows = [{"id": 1, "text": TEXTS[0]}, {"id": 2, "text": bad}, {"id": 3, "text": TEXTS[1]}]
    if bad == "missing":
        del rows[1]["text"]
    source = _write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(DataError, match=r"in\.jsonl:2: "):
        predict_file(source, tmp_path / "out.jsonl", baseline_model)
    summary = predict_file(source, tmp_path / "out.jsonl", baseline_model, skip_invalid=True)
    assert (summary.rows, summary.predicted, summary.skipped) == (3, 2, 1)
    assert summary.skipped_examples[0][0] == 2
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == [1, 2, 3]
    assert out[1]["label"] == "" and all(out[1][f"p_{lb}"] is None for lb in stance.LABELS)
    assert out[0]["label"] in stance.LABELS and out[2]["label"] in stance.LABELS


def test_csv_skip_invalid_cli(baseline_model, tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[1]["text"] = ""
    source = _write_csv(tmp_path / "in.csv", rows)
    result = runner.invoke(
        app,
        ["predict", "--model", str(baseline_model), "--input", str(source), "--output",
         str(tmp_path / "out.csv"), "--skip-invalid", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "in.csv:3: skipped: 'text' is empty" in result.output
    assert "wrote 5 rows" in result.output and "1 skipped" in result.output
    out = _read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in out] == [r["id"] for r in ROWS]
    assert out[1]["label"] == "" and all(out[1][f"p_{lb}"] == "" for lb in stance.LABELS)
    assert all(r["label"] in stance.LABELS for i, r in enumerate(out) if i != 1)


def test_csv_row_of_empty_cells_is_not_dropped(baseline_model, tmp_path):
    """A spreadsheet's empty row (",,") is a row: without --skip-invalid it is an error naming
    its line; with it, an output row with an empty label, so the rows still line up."""
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,We back it.\n,\n2,Scrap it.\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        predict_file(source, tmp_path / "out.csv", baseline_model)
    assert info.value.line == 3 and "empty" in str(info.value)
    summary = predict_file(source, tmp_path / "out.csv", baseline_model, skip_invalid=True)
    out = _read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in out] == ["1", "", "2"] and summary.skipped == 1
    assert out[1]["label"] == "" and out[0]["label"] in stance.LABELS


def test_output_that_is_the_input_under_another_name_is_refused(baseline_model, tmp_path):
    """A hard link (or, on macOS and Windows, another letter case) names the same file: the
    check compares files, not names, so the input is never replaced."""
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "We back it."}) + "\n", encoding="utf-8")
    os.link(source, tmp_path / "same.jsonl")
    with pytest.raises(DataError, match="would overwrite the input"):
        predict_file(source, tmp_path / "same.jsonl", baseline_model)
    assert source.read_text(encoding="utf-8") == json.dumps({"text": "We back it."}) + "\n"


def test_crash_midway_keeps_previous_output_and_leaves_no_temp_file(
    baseline_model, tmp_path, monkeypatch
):
    source = _write_jsonl(tmp_path / "in.jsonl", ROWS * 3)
    output = tmp_path / "out.jsonl"
    output.write_text("previous results\n")
    clf = load(baseline_model)
    real, calls = clf.predict_proba_counted, []

    def fail_on_second_chunk(texts, batch_size=64):
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(texts, batch_size)

    monkeypatch.setattr(clf, "predict_proba_counted", fail_on_second_chunk)
    with pytest.raises(RuntimeError, match="disk on fire"):
        predict_file(source, output, clf, chunk_rows=4)
    assert output.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_file_mistakes_are_refused(baseline_model, tmp_path):
    source = _write_jsonl(tmp_path / "in.jsonl", ROWS)
    with pytest.raises(DataError, match="must have the input's format"):
        predict_file(source, tmp_path / "out.csv", baseline_model)
    with pytest.raises(DataError, match="would overwrite the input"):
        predict_file(source, source, baseline_model)
    with pytest.raises(DataError, match=r"in\.jsonl:1: missing column 'quote'"):
        predict_file(source, tmp_path / "out.jsonl", baseline_model, text_column="quote")


def test_file_truncation_warns_once(transformer_model, tmp_path):
    rows = [{"text": LONG}, {"text": TEXTS[0]}] * 3
    source = _write_jsonl(tmp_path / "in.jsonl", rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = predict_file(
            source, tmp_path / "out.jsonl", transformer_model, chunk_rows=2, device="cpu"
        )
    mine = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert summary.truncated == 3 and len(mine) == 1 and "3 of 6 text(s)" in str(mine[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("always", TruncationWarning)  # undo this module's "ignore"
        result = runner.invoke(
            app, ["predict", "--model", str(transformer_model), "--input", str(source), "--output",
                  str(tmp_path / "out2.jsonl"), "--device", "cpu"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: 3 of 6 text(s) were longer") == 1


def test_file_with_unicode_and_surrogates(transformer_model, tmp_path):
    source = tmp_path / "in.jsonl"
    # A JSON "\ud800" escape is valid JSON and decodes to a lone surrogate.
    lines = [json.dumps({"text": t}) for t in ODD[:4]] + ['{"text": "lone \\ud800 surrogate"}']
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = predict_file(source, tmp_path / "out.jsonl", transformer_model, device="cpu")
    assert summary.predicted == 5
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in out] == ODD[:4] + ["lone \ud800 surrogate"]


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_table(baseline_model):
    result = runner.invoke(
        app, ["predict", *TEXTS[:2], "Tab\there\nnewline", "--model", str(baseline_model)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["label", "confidence", "text"]
    assert len(lines) == 4
    expected = stance.predict(TEXTS[:2], model=baseline_model)
    for line, p, text in zip(lines[1:], expected, TEXTS):
        assert line.split()[0] == p.label and float(line.split()[1]) == pytest.approx(
            p.confidence, abs=1e-3
        )
        assert text in line
    assert lines[3].endswith("Tab here newline")


def test_cli_json_lines(baseline_model):
    result = runner.invoke(app, ["predict", *TEXTS, "--json", "--model", str(baseline_model)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in records] == TEXTS
    for r, p in zip(records, stance.predict(TEXTS, model=baseline_model)):
        assert r["label"] == p.label and r["scores"] == pytest.approx(p.scores)
        assert r["confidence"] == pytest.approx(p.confidence)


def test_cli_uses_stance_model_env(baseline_model, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STANCE_MODEL", str(baseline_model))
    result = runner.invoke(app, ["predict", TEXTS[0]])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("STANCE_MODEL")
    result = runner.invoke(app, ["predict", TEXTS[0]])
    assert (
        result.exit_code == 1 and "stance train --config configs/transformer.yaml" in result.output
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to classify"),
        (["  "], "item 0: text is empty or whitespace only"),
        (["ok", ""], "item 1: text is empty"),
        (["ok", "--input", "x.jsonl", "--output", "y.jsonl"], "not both"),
        (["--input", "x.jsonl"], "--input and --output go together"),
        (["--output", "y.jsonl"], "--input and --output go together"),
        (["--input", "x.jsonl", "--output", "y.jsonl", "--json"], "--json is for statements"),
        (["ok", "--backend", "gpu"], "expected one of torch, onnx, onnx-int8, found 'gpu'"),
        (["ok", "--engine", "bogus"], "--engine must be local or ray, found 'bogus'"),
        (["ok", "--engine", "ray"], "--engine: for --input FILE only"),
        (["ok", "--num-cpus", "3"], "--num-cpus: for --input FILE only"),
        (
            ["--input", "x.jsonl", "--output", "y", "--ray-address", "ray://h:1"],
            "--ray-address: for --engine ray only",
        ),
    ],
)
def test_cli_usage_errors(baseline_model, argv, message):
    result = runner.invoke(app, ["predict", "--model", str(baseline_model), *argv])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_progress_bar_on_stderr_and_quiet(baseline_model, tmp_path, monkeypatch):
    import stance.cli.predict as cli_predict

    source = _write_jsonl(tmp_path / "in.jsonl", ROWS)
    updates = []

    class Recorder(cli_predict._Progress):
        def __call__(self, done, total):
            updates.append((self.enabled, done, total))

    monkeypatch.setattr(cli_predict, "_Progress", Recorder)
    argv = [
        "predict",
        "--model",
        str(baseline_model),
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o.jsonl"),
    ]
    assert runner.invoke(app, argv).exit_code == 0
    assert updates[-1] == (True, 5, 5)
    updates.clear()
    assert runner.invoke(app, [*argv, "--quiet"]).exit_code == 0
    assert updates[-1] == (False, 5, 5)


def test_progress_bar_writes_to_stderr_only(monkeypatch, capsys):
    import stance.cli.predict as cli_predict

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bar = cli_predict._Progress(enabled=True)
    bar(10, 20)  # stderr is no terminal here: plain progress lines, no bar frames
    bar(20, 20)
    bar.close()
    assert "20/20" in err.getvalue()
    assert capsys.readouterr().out == ""


# --- the ONNX backend -----------------------------------------------------------------------------


def test_onnx_backend_agrees_with_torch(tiny_transformer_copy):
    torch_clf = load(tiny_transformer_copy, device="cpu", precision="fp32")  # exact reference
    onnx_clf = load(tiny_transformer_copy, backend="onnx", device="cpu")
    assert type(onnx_clf).__name__ == "OnnxPredictor" and onnx_clf.labels == torch_clf.labels
    texts = TEXTS + ODD + [LONG]
    a = torch_clf.predict_proba(texts, batch_size=3)
    b = onnx_clf.predict_proba(texts, batch_size=5)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert [p.label for p in torch_clf.predict(texts)] == [p.label for p in onnx_clf.predict(texts)]
    manifest = json.loads((tiny_transformer_copy / "onnx" / "model.onnx.json").read_text())
    assert manifest["check"]["max_prob_diff"] < 1e-4
    assert manifest["fused"] is True  # onnxruntime's BERT fusions applied (and checked)
    assert manifest["sha256"] == stance.models.artifacts.file_sha256(
        tiny_transformer_copy / "onnx" / "model.onnx"
    )


def test_onnx_cpu_session_runs_large_batches_in_pieces(tiny_transformer_copy, monkeypatch):
    import stance.inference.onnx

    clf = load(tiny_transformer_copy, backend="onnx", device="cpu")
    assert clf.session_batch == stance.inference.onnx.CPU_SESSION_BATCH
    monkeypatch.setattr(clf, "session_batch", 2)
    sizes = []
    run = clf.session.run
    monkeypatch.setattr(
        clf.session, "run", lambda out, feed: sizes.append(len(feed["input_ids"])) or run(out, feed)
    )
    texts = TEXTS + ODD
    probs = clf.predict_proba(texts, batch_size=64)
    assert max(sizes) == 2 and sum(sizes) == len(texts)
    monkeypatch.setattr(clf, "session_batch", None)
    np.testing.assert_allclose(probs, clf.predict_proba(texts, batch_size=64), atol=1e-6)


def test_onnx_export_is_cached_and_reexported_when_stale(tiny_transformer_copy, monkeypatch):
    import stance.inference.onnx as onnx_mod

    load(tiny_transformer_copy, backend="onnx")  # exported (here or by an earlier test)
    clear_cache()
    real = onnx_mod._export_fp32
    exports = []

    def counting(*args, **kwargs):
        exports.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_mod, "_export_fp32", counting)
    load(tiny_transformer_copy, backend="onnx")
    assert exports == []  # the cached file was used
    clear_cache()
    path = tiny_transformer_copy / "onnx" / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10])  # damaged: exported again, not loaded
    clf = load(tiny_transformer_copy, backend="onnx")
    assert exports == [1]
    _check_prediction(clf.predict(TEXTS[0]))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_onnx_export_without_fusion(tiny_transformer_copy, tmp_path, monkeypatch):
    import stance.inference.onnx as onnx_mod

    monkeypatch.setattr(onnx_mod, "_fuse", lambda path, config: None)
    path = onnx_mod.export_onnx(tiny_transformer_copy, cache_dir=tmp_path / "cache")
    manifest = json.loads(path.with_name("model.onnx.json").read_text())
    assert manifest["fused"] is False and manifest["check"]["max_prob_diff"] < 1e-4
    clf = load(tiny_transformer_copy, backend="onnx", cache_dir=tmp_path / "cache")
    assert clf.onnx_path == path
    np.testing.assert_allclose(
        clf.predict_proba(TEXTS),
        load(tiny_transformer_copy, device="cpu", precision="fp32").predict_proba(TEXTS),
        atol=1e-5,
    )


def test_onnx_int8_backend_runs(tiny_transformer_copy):
    clf = load(tiny_transformer_copy, backend="onnx-int8")
    assert clf.quantized and clf.onnx_path.name == "model.int8.onnx"
    for p in clf.predict(TEXTS + ODD):
        _check_prediction(p)


def test_onnx_backend_does_not_import_torch(tiny_transformer_copy):
    load(tiny_transformer_copy, backend="onnx")  # make sure the export is cached
    code = (
        "import sys, stance; "
        f"p = stance.predict(['We back it.', 'Scrap it.'], model={str(tiny_transformer_copy)!r}, backend='onnx'); "
        "assert len(p) == 2; "
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_onnx_cache_falls_back_to_cache_dir_for_read_only_models(
    tiny_transformer_copy, tmp_path, monkeypatch
):
    import stance.inference.onnx as onnx_mod

    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "cache"))  # the one stance cache
    monkeypatch.setattr(onnx_mod.os, "access", lambda path, mode: False)
    meta = json.loads((tiny_transformer_copy / "metadata.json").read_text())
    where = onnx_mod.onnx_cache_dir(tiny_transformer_copy, meta)
    assert where.parent == tmp_path / "cache" / "onnx"


def test_cli_onnx_backend(tiny_transformer_copy):
    result = runner.invoke(
        app,
        ["predict", *TEXTS, "--json", "--model", str(tiny_transformer_copy), "--backend", "onnx"],
    )
    assert result.exit_code == 0, result.output
    expected = load(tiny_transformer_copy, device="cpu", precision="fp32").predict(TEXTS)
    for line, p in zip(result.output.splitlines(), expected):
        assert json.loads(line)["scores"] == pytest.approx(p.scores, abs=1e-5)


def test_ray_summary_carries_the_truncation_warning_of_its_workers(tmp_path):
    """Workers' warnings stay in their processes; the summary says what the single-process
    path would have warned, and the CLI prints it."""
    from collections import Counter
    from types import SimpleNamespace

    from stance.inference.distributed import _finish
    from stance.inference.predictor import truncation_message

    counts = Counter({"rows": 5, "label:support": 3, "label:oppose": 1, "truncated": 2})
    summary = _finish(SimpleNamespace(counts=counts), str(tmp_path), None, "jsonl", 64)
    assert summary.predicted == 4 and summary.skipped == 1
    assert summary.warnings == [truncation_message(2, 4, 64)]
    assert "2 of 4 text(s)" in summary.warnings[0] and "(64 tokens)" in summary.warnings[0]
    counts["truncated"] = 0
    assert _finish(SimpleNamespace(counts=counts), str(tmp_path), None, "jsonl", 64).warnings == []


@pytest.mark.parametrize("content", ["[]", "3", '"text"', "null", "{not json"])
def test_a_damaged_onnx_manifest_means_export_again(tmp_path, content):
    """Valid JSON that is not an object is as damaged as invalid JSON: no cached file is used
    (it raised AttributeError)."""
    from stance.inference.onnx import _cached_file, _file_name

    (tmp_path / _file_name(False)).write_bytes(b"graph")
    (tmp_path / (_file_name(False) + ".json")).write_text(content)
    assert _cached_file(tmp_path, {"checksums": {}}, quantize=False) is None


def test_ray_batch_that_starts_with_an_array_line_reports_it_as_the_file_reader_does(
    baseline_model,
):
    """Each Ray batch goes through a small file of its own; an array on a batch's first line
    is not the file's first line, so it is "expected a JSON object", not "a JSON array file"."""
    from stance.inference.distributed import _BatchScorer

    options = {"text_column": "text", "batch_size": 8, "skip_invalid": False,
               "label_column": "label", "prob_prefix": "p_"}  # fmt: skip
    scorer = _BatchScorer(str(baseline_model), "jsonl", "a.jsonl", {}, options)
    with pytest.raises(DataError, match=r"a\.jsonl:7: expected a JSON object, found list"):
        scorer._run(["[1]", '{"text": "ok"}'], ["a.jsonl:7", "a.jsonl:9"])
    with pytest.raises(DataError, match=r"a\.jsonl:1: found a JSON array"):
        scorer._run(["[1]", '{"text": "ok"}'], ["a.jsonl:1", "a.jsonl:2"])


@pytest.mark.parametrize("device, available, expected", [
    ("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
    (None, ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"],
     ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"],
     ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    # The GPU asked for: without device_id onnxruntime would run on GPU 0.
    ("cuda:1", ["CUDAExecutionProvider", "CPUExecutionProvider"],
     [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]),
])  # fmt: skip
def test_onnx_providers_follow_the_device(device, available, expected):
    from stance.inference.onnx import execution_providers

    assert execution_providers(device, available) == expected


@pytest.mark.parametrize("device", ["cuda:1", "cuda:x", "mps", "cuda:", "cuda:²"])
def test_onnx_refuses_a_device_it_has_no_provider_for(device):
    from stance.inference.onnx import execution_providers

    available = ["CPUExecutionProvider"]
    if device != "cuda:1":  # malformed: refused even where there is a GPU
        available.insert(0, "CUDAExecutionProvider")
    with pytest.raises(ModelError, match=f"device '{device}' is not available to onnxruntime"):
        execution_providers(device, available)
