"""Prevalence with misclassification-adjusted intervals (issue 16): the estimator on synthetic
cases with known answers, checked against numpy/scipy, and the file/CLI/score paths on the
tiny trained baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import nnls
from typer.testing import CliRunner

from stance.cli import app
from stance.constants import LABELS
from stance.errors import DataError, ModelError
from stance.evaluation.prevalence import (
    ALL_GROUP,
    adjusted_shares,
    estimate_group,
    model_confusion,
    prevalence,
    prevalence_file,
    rate_matrix,
    unmeasured_labels,
)

runner = CliRunner()
CONFUSION = [[80, 15, 5], [10, 70, 20], [5, 15, 80]]  # rows: true support, oppose, conditional


def _expected_predicted(true_shares):
    return rate_matrix(CONFUSION).T @ np.asarray(true_shares)


@pytest.mark.parametrize("truth", [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [1 / 3] * 3])
def test_adjusted_shares_recover_known_truth(truth):
    observed = _expected_predicted(truth)
    assert adjusted_shares(observed, CONFUSION) == pytest.approx(truth, abs=1e-12)
    # independently: non-negative least squares on the same system (scipy)
    solution, _ = nnls(rate_matrix(CONFUSION).T, observed)
    assert adjusted_shares(observed, CONFUSION) == pytest.approx(
        solution / solution.sum(), abs=1e-9
    )


def test_exact_small_case_by_hand():
    # M = [[.8,.2],[.1,.9]]: q = (0.5, 0.5) -> 0.8p + 0.1(1-p) = 0.5 -> p = 4/7
    assert adjusted_shares(np.array([0.5, 0.5]), [[8, 2], [1, 9]]) == pytest.approx([4 / 7, 3 / 7])


def test_infeasible_observation_is_clipped_and_renormalised():
    # q = (0.9, 0.1) needs p > 1 under M = [[.8,.2],[.1,.9]] (p = 8/7): clipped to (1, 0)
    assert adjusted_shares(np.array([0.9, 0.1]), [[8, 2], [1, 9]]) == pytest.approx([1.0, 0.0])


def test_identity_error_rates_leave_shares_unchanged_and_batches_broadcast():
    q = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert adjusted_shares(q, np.eye(3) * 50) == pytest.approx(q)
    batch = np.stack([np.asarray(CONFUSION)] * 2)
    assert adjusted_shares(q, batch) == pytest.approx(
        np.stack([adjusted_shares(r, CONFUSION) for r in q])
    )
    # a true label without held-out examples is taken as always right (identity row)
    assert rate_matrix([[0, 0], [1, 3]]).tolist() == [[1.0, 0.0], [0.25, 0.75]]


def test_raw_interval_matches_the_beta_marginal():
    counts = np.array([12, 5, 3])
    est = estimate_group(counts, np.eye(3, dtype=int) * 10**6, n_resamples=40000,
                         rng=np.random.default_rng(1))  # fmt: skip
    # Dirichlet(c + 1/2) marginal of label 0 is Beta(12.5, 9.0) (scipy)
    expected = stats.beta.ppf([0.025, 0.975], 12.5, 5 + 3 + 1.0)
    assert est["raw_ci"][0] == pytest.approx(expected, abs=0.01)
    assert est["raw"] == pytest.approx(counts / 20)


def test_interval_widens_with_uncertain_error_rates():
    counts = np.round(_expected_predicted([0.6, 0.3, 0.1]) * 400).astype(int)
    rng = np.random.default_rng(0)
    sure = estimate_group(counts, np.asarray(CONFUSION) * 1000, 2000, rng)
    unsure = estimate_group(counts, np.asarray(CONFUSION) // 5, 2000, rng)
    width = lambda e: np.diff(e["adjusted_ci"], axis=1).ravel()  # noqa: E731
    assert np.all(width(unsure) > width(sure))
    for est in (sure, unsure):
        low, high = est["adjusted_ci"].T
        assert np.all(low <= [0.6, 0.3, 0.1]) and np.all(high >= [0.6, 0.3, 0.1])


def test_label_without_held_out_examples_keeps_its_assumed_rate_in_the_bootstrap():
    # 'conditional' has no held-out examples: the point estimate takes its row as identity,
    # so every resample must too (the review's demo: intervals were [0, 0.92], [0, 0.5], [0, 1])
    empty_row = [[40, 5, 0], [5, 40, 0], [0, 0, 0]]
    est = estimate_group([70, 20, 10], empty_row, 4000, np.random.default_rng(0))
    low, high = est["adjusted_ci"].T
    assert np.all(low <= est["adjusted"]) and np.all(est["adjusted"] <= high)
    assert np.all(high - low < 0.3)
    # independently: a measured, all-but-certain identity row gives the same intervals (same
    # draws for the other rows; its Dirichlet(1e6 + 1/2, 1/2, 1/2) draw is the identity to 1e-5)
    measured = estimate_group([70, 20, 10], [[40, 5, 0], [5, 40, 0], [0, 0, 10**6]], 4000,
                              np.random.default_rng(0))  # fmt: skip
    assert est["adjusted_ci"] == pytest.approx(measured["adjusted_ci"], abs=1e-3)
    assert unmeasured_labels(LABELS, empty_row) == ["conditional"]
    assert unmeasured_labels(LABELS, CONFUSION) == []


def test_prevalence_groups_small_flag_and_all_row():
    predicted = ["support"] * 12 + ["oppose"] * 8 + ["conditional"] * 3
    groups = ["gp"] * 20 + ["nurse"] * 2 + [None]
    rows = prevalence(predicted, groups, LABELS, CONFUSION, n_resamples=200)
    assert [r["group"] for r in rows] == ["gp", "nurse", "(missing)", ALL_GROUP]
    assert [r["n"] for r in rows] == [20, 2, 1, 23]
    assert [r["small"] for r in rows] == [False, True, True, False]
    assert rows[0]["counts"] == {"support": 12, "oppose": 8, "conditional": 0}
    assert rows[0]["shares"]["support"]["raw"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="not among"):
        prevalence(["maybe"], None, LABELS, CONFUSION)


# --- on the tiny trained baseline -----------------------------------------------------------------


def _quotes(tmp_path, tiny_records):
    rows = [{**r, "year": 2019 + i % 2} for i, r in enumerate(tiny_records)]
    path = tmp_path / "quotes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_prevalence_file_raw_and_scored_agree(baseline_model, tiny_records, tmp_path):
    from stance.inference.predictor import predict_file

    raw = _quotes(tmp_path, tiny_records)
    scored = tmp_path / "scored.jsonl"
    rows = [json.loads(x) for x in raw.read_text().splitlines()]
    scored_in = tmp_path / "in.jsonl"  # no gold label column, so predict can add its own
    scored_in.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "label"}) + "\n"
                                 for r in rows))  # fmt: skip
    predict_file(scored_in, scored, baseline_model)
    a = prevalence_file(raw, "role", model=baseline_model, n_resamples=100, plot=tmp_path / "p.png")
    b = prevalence_file(scored, "role", model=baseline_model, n_resamples=100)
    assert not a["scored_input"] and b["scored_input"]
    assert a["groups"] == b["groups"]
    assert a["groups"][-1]["group"] == ALL_GROUP and a["groups"][-1]["n"] == len(rows)
    assert [r["group"] for r in a["by_year"]] == ["2019", "2020", ALL_GROUP]
    assert (tmp_path / "p.png").stat().st_size > 0
    labels, confusion, _ = model_confusion(baseline_model)
    assert a["error_rates"]["confusion"] == confusion and labels == list(LABELS)


def test_cli_prevalence_table_json_and_errors(baseline_model, tiny_records, tmp_path):
    path = _quotes(tmp_path, tiny_records)
    result = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "source",
                                 "--model", str(baseline_model), "--resamples", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "a.txt" in result.output and "(all)" in result.output and "small" in result.output
    result = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "source", "--json",
                                 "--model", str(baseline_model), "--resamples", "50"])  # fmt: skip
    assert json.loads(result.output)["by"] == "source"
    result = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "county",
                                 "--model", str(baseline_model)])  # fmt: skip
    assert result.exit_code == 1
    assert "error:" in result.output and "no column 'county'" in result.output


def test_score_speaker_summary_uses_the_prevalence_function(baseline_model, tmp_path):
    from stance.extract.score import score_articles, summarise_speakers

    article = tmp_path / "a.txt"
    article.write_text(
        '"We back the vanguard completely," said Dr Ann Lee, a GP partner.\n\n'
        '"Scrap the whole reorganisation," said Dr Ann Lee.\n',
        encoding="utf-8",
    )
    summary = summarise_speakers(score_articles([article], model=baseline_model), n_resamples=50)
    if not summary:
        pytest.fail("the extractor found no quotes in the test article")
    row = summary[0]
    predicted = [label for label, n in row.labels.items() for _ in range(n)]
    expected = prevalence(predicted, [row.speaker] * row.n, LABELS,
                          model_confusion(baseline_model)[1], n_resamples=50)[0]  # fmt: skip
    assert row.shares["adjusted"] and row.shares["small"]
    for label in LABELS:
        assert row.shares[label]["raw"] == pytest.approx(expected["shares"][label]["raw"])
        assert row.shares[label]["adjusted"] == pytest.approx(expected["shares"][label]["adjusted"])


def test_unmeasured_label_is_noted_in_the_result_and_by_the_cli(
    baseline_model, tiny_records, tmp_path, monkeypatch
):
    import stance.evaluation.prevalence as module

    real = module.model_confusion

    def without_conditional(model):  # the real record, as if no held-out quote were conditional
        labels, confusion, source = real(model)
        return labels, [*confusion[:2], [0, 0, 0]], source

    monkeypatch.setattr(module, "model_confusion", without_conditional)
    path = _quotes(tmp_path, tiny_records)
    result = prevalence_file(path, "role", model=baseline_model, n_resamples=200)
    assert result["error_rates"]["unmeasured"] == ["conditional"]
    [warning] = result["warnings"]
    assert "no held-out examples of 'conditional'" in warning and "assumed" in warning
    out = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "role", "--json",
                              "--model", str(baseline_model), "--resamples", "50"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["warnings"] == [warning]
    assert out.stderr == f"warning: {warning}\n"
    monkeypatch.undo()  # the model's own record has every label
    full = prevalence_file(path, "role", model=baseline_model, n_resamples=50)
    assert full["error_rates"]["unmeasured"] == [] and full["warnings"] == []


def _scored(tmp_path, labels):
    """A file in the form stance predict --output writes: label, p_* columns, needs_review."""
    rows = [{"text": f"quote {i}", "role": "gp", "label": label, "needs_review": False,
             **{f"p_{x}": (None if label == "" else float(x == label)) for x in LABELS}}
            for i, label in enumerate(labels)]  # fmt: skip
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_scored_input_with_an_unknown_label_names_the_line_value_and_labels(
    baseline_model, tmp_path
):
    path = _scored(tmp_path, ["support", "oppose", "Support", "maybe"])
    with pytest.raises(DataError) as info:
        prevalence_file(path, "role", model=baseline_model, n_resamples=50)
    assert info.value.line == 3 and info.value.path == str(path)
    assert "'Support'" in str(info.value) and "support, oppose, conditional" in str(info.value)
    out = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "role",
                              "--model", str(baseline_model)])  # fmt: skip
    assert out.exit_code == 1 and out.stdout == ""
    assert out.stderr == f"error: {info.value}\n"  # one line, no traceback


def test_scored_rows_without_a_label_are_counted_as_skipped(baseline_model, tmp_path):
    path = _scored(tmp_path, ["support", "", "oppose", "support", ""])
    result = prevalence_file(path, "role", model=baseline_model, n_resamples=50)
    assert result["n"] == 3 and result["groups"][0]["counts"]["support"] == 2
    assert result["skipped"]["rows"] == 2 and result["skipped"]["lines"] == [2, 5]
    assert "no predicted label" in result["skipped"]["reason"]
    [warning] = result["warnings"]
    assert "skipped 2 row(s)" in warning and "lines 2, 5" in warning
    out = runner.invoke(app, ["prevalence", "--input", str(path), "--by", "role",
                              "--model", str(baseline_model), "--resamples", "50"])  # fmt: skip
    assert out.exit_code == 0 and out.stderr == f"warning: {warning}\n"
    assert prevalence_file(_quotes(tmp_path, [{"text": "a", "role": "gp"}]), "role",
                           model=baseline_model, n_resamples=50)["skipped"]["rows"] == 0  # fmt: skip
    with pytest.raises(DataError, match="no row has a predicted label"):
        prevalence_file(_scored(tmp_path, ["", ""]), "role", model=baseline_model)


def test_prevalence_file_takes_a_model_path_or_a_loaded_predictor(
    baseline_model, tiny_records, tmp_path
):
    from stance.inference.predictor import load

    path = _quotes(tmp_path, tiny_records)
    by_path = prevalence_file(path, "role", model=baseline_model, n_resamples=50)
    predictor = load(baseline_model)
    loaded = prevalence_file(path, "role", model=predictor, n_resamples=50)
    assert loaded["groups"] == by_path["groups"] and loaded["by_year"] == by_path["by_year"]
    assert by_path["error_rates"]["model"] == str(baseline_model)
    assert loaded["error_rates"]["model"] == str(predictor.model_dir)


def test_scored_input_whose_label_column_is_not_the_prediction_is_refused(
    baseline_model, tiny_records, tmp_path
):
    """Gold labels beside predictions written under other names (stance predict refuses to
    overwrite them) must not be read as predictions; naming the columns reads the right ones."""
    from stance.inference.predictor import predict_file

    gold = _quotes(tmp_path, tiny_records)
    scored = tmp_path / "scored.jsonl"
    predict_file(gold, scored, baseline_model, label_column="pred")
    rows = [json.loads(x) for x in scored.read_text().splitlines()]
    wrong = next(n for n, r in enumerate(rows, 1) if r["label"] != r["pred"])
    with pytest.raises(DataError, match="does not hold this model's predictions") as info:
        prevalence_file(scored, "role", model=baseline_model, n_resamples=50)
    assert info.value.line == wrong
    out = runner.invoke(app, ["prevalence", "--input", str(scored), "--by", "role",
                              "--model", str(baseline_model), "--label-column", "pred",
                              "--json", "--resamples", "50"])  # fmt: skip
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["scored_input"] and result["n"] == len(rows)
    counts = result["groups"][-1]["counts"]
    assert counts == {x: sum(r["pred"] == x for r in rows) for x in LABELS}


def test_scored_row_with_a_missing_probability_names_its_line(baseline_model, tmp_path):
    path = _scored(tmp_path, ["support", "oppose"])
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[1]["p_oppose"] = "n/a"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match="expected a number in each of p_support") as info:
        prevalence_file(path, "role", model=baseline_model, n_resamples=50)
    assert info.value.line == 2


def test_model_confusion_reads_the_record_without_loading_weights(
    baseline_model, tmp_path, monkeypatch
):
    """`stance score --device/--backend` loads the model with options; the speaker shares then
    ask for its error rates by directory, which must not load a second copy. The calibration
    record is still checked against its recorded sha256."""
    import shutil

    import stance.inference.predictor as predictor_module

    expected = model_confusion(baseline_model)

    def no_load(*args, **kwargs):
        raise AssertionError("model_confusion loaded the model")

    monkeypatch.setattr(predictor_module, "load", no_load)
    monkeypatch.setattr(predictor_module, "from_metadata", no_load)
    assert model_confusion(baseline_model) == expected
    copy = shutil.copytree(baseline_model, tmp_path / "model")
    record = json.loads((copy / "calibration.json").read_text())
    record["held_out"]["confusion"][0][0] += 1
    (copy / "calibration.json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="checksum mismatch"):
        model_confusion(copy)
