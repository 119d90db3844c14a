"""Property tests: arbitrary Unicode strings and lists thrown at stance.predict.

Many examples on the (fast) baseline, a few on the tiny transformer (both backends).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stance
from stance.inference.predictor import TruncationWarning, load, predict_file

# Every code point, lone surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, categories=None)
TEXT = st.text(ANY_CHAR, max_size=200)
# Mostly valid items, sometimes the things users really pass by mistake.
ITEM = st.one_of(
    TEXT,
    TEXT.filter(lambda t: t.strip()),
    st.none(),
    st.integers(),
    st.floats(),
    st.just(""),
    st.just(" \n"),
)

PROPERTY = settings(
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(
    deadline=None,
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _valid(p, labels=stance.LABELS) -> None:
    assert p.label in labels
    assert tuple(p.scores) == tuple(labels)
    assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in p.scores.values())
    assert p.confidence == max(p.scores.values())


def _expected_error(items: list) -> tuple[type, int] | None:
    """The error predict() must raise for this list, and the index it must name."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            return TypeError, i
        if not item.strip():
            return ValueError, i
    return None


@pytest.fixture(scope="module")
def baseline(baseline_model):
    return load(baseline_model)


@pytest.fixture(scope="module")
def transformer(transformer_model):
    return load(transformer_model, device="cpu")


@PROPERTY
@given(text=TEXT)
def test_any_string(baseline, text):
    if not text.strip():
        with pytest.raises(ValueError, match="text: text is empty"):
            stance.predict(text, model=baseline)
    else:
        _valid(stance.predict(text, model=baseline))


@PROPERTY
@given(items=st.lists(ITEM, max_size=12))
def test_any_list(baseline, items):
    expected = _expected_error(items)
    if expected is not None:
        error, index = expected
        with pytest.raises(error, match=rf"^item {index}: "):
            stance.predict(items, model=baseline)
        return
    preds = stance.predict(iter(items), model=baseline)  # a one-shot iterator works too
    assert len(preds) == len(items)
    for p in preds:
        _valid(p)
    # A list gives what one-by-one calls give, in the same order.
    assert [p.scores for p in preds] == [baseline.predict(t).scores for t in items]


@FEW
@given(items=st.lists(TEXT.filter(lambda t: t.strip()), min_size=1, max_size=6))
def test_transformer_any_texts(transformer, items):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = stance.predict(items, model=transformer, batch_size=4)
    assert len(preds) == len(items)
    for p in preds:
        _valid(p)
    assert len([w for w in caught if issubclass(w.category, TruncationWarning)]) <= 1
    single = stance.predict(items[0], model=transformer)
    assert single.scores == pytest.approx(preds[0].scores, abs=1e-5)


@pytest.fixture(scope="module")
def onnx_pair(transformer_model, tmp_path_factory):
    model = tmp_path_factory.mktemp("onnx_props") / "model"
    shutil.copytree(transformer_model, model)
    return load(model, device="cpu", precision="fp32"), load(model, backend="onnx")


@FEW
@given(items=st.lists(TEXT.filter(lambda t: t.strip()), min_size=1, max_size=6))
def test_onnx_matches_torch_on_any_texts(onnx_pair, items):
    torch_clf, onnx_clf = onnx_pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        np.testing.assert_allclose(
            torch_clf.predict_proba(items), onnx_clf.predict_proba(items), atol=1e-5
        )


@FEW
@given(items=st.lists(TEXT, min_size=1, max_size=8))
def test_file_round_trip_any_texts(baseline, tmp_path_factory, items):
    folder: Path = tmp_path_factory.mktemp("prop_file")
    source = folder / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"i": i, "text": t}) + "\n" for i, t in enumerate(items)),
        encoding="utf-8",
    )
    summary = predict_file(source, folder / "out.jsonl", baseline, skip_invalid=True)
    out = [
        json.loads(line) for line in (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [r["i"] for r in out] == list(range(len(items)))
    assert [r["text"] for r in out] == items
    blank = [not t.strip() for t in items]
    assert summary.skipped == sum(blank)
    for row, is_blank in zip(out, blank):
        assert (row["label"] == "") == is_blank
