"""evaluate / compare / cv / experiment: library functions and CLI, on the tiny fixtures."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from stance.cli import app
from stance.constants import LABELS
from stance.evaluation.evaluate import compare, cross_validate, evaluate

from .conftest import write_jsonl

runner = CliRunner()

EVAL_KEYS = ("n", "accuracy", "macro_f1", "macro_f1_ci", "accuracy_ci", "per_label",
             "confusion_matrix", "ece", "reliability")  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def _check_eval_dict(result: dict, n: int) -> None:
    for key in EVAL_KEYS:
        assert key in result, key
    assert result["n"] == n
    assert set(result["per_label"]) == set(LABELS)
    for scores in result["per_label"].values():
        assert set(scores) == {"precision", "recall", "f1", "support"}
    assert result["confusion_matrix"]["labels"] == list(LABELS)
    assert sum(map(sum, result["confusion_matrix"]["matrix"])) == n
    low, high = result["macro_f1_ci"]
    assert 0 <= low <= result["macro_f1"] <= high <= 1
    low, high = result["accuracy_ci"]
    assert 0 <= low <= result["accuracy"] <= high <= 1
    assert 0 <= result["ece"] <= 1
    assert sum(row["count"] for row in result["reliability"]) == n


# --- evaluate --------------------------------------------------------------------------------


def test_evaluate_library_matches_sklearn(baseline_model, tiny_splits):
    from stance.inference.predictor import load

    result = evaluate(baseline_model, tiny_splits["test"], n_resamples=200)
    _check_eval_dict(result, n=3)
    texts, gold = [], []
    for line in tiny_splits["test"].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        texts.append(record["text"])
        gold.append(record["label"])
    predicted = [p.label for p in load(baseline_model).predict(texts)]
    assert result["macro_f1"] == pytest.approx(
        f1_score(gold, predicted, average="macro", labels=list(LABELS), zero_division=0)
    )
    assert result["kind"] == "baseline"
    # The majority reference comes from the training counts in the model's metadata.
    assert result["majority"]["from_training_data"] is True
    wrong = [g != p for g, p in zip(gold, predicted)]
    assert len(result["misclassified"]) == sum(wrong)


def test_cli_evaluate_json_is_the_only_stdout(baseline_model, tiny_splits):
    out = runner.invoke(app, ["evaluate", "--model", str(baseline_model), "--data", str(tiny_splits["test"]),
                              "--json", "--resamples", "100"])  # fmt: skip
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)  # fails if anything else was printed on stdout
    _check_eval_dict(result, n=3)
    assert result["settings"]["n_resamples"] == 100
    # The same dict as the library function returns (bootstrap seeded, prediction deterministic).
    library = evaluate(baseline_model, tiny_splits["test"], n_resamples=100)
    for key in EVAL_KEYS:
        assert result[key] == library[key]


def test_cli_evaluate_text_and_report(baseline_model, tiny_records, tmp_path):
    # A CSV with extra columns (ignored), all 18 quotes.
    data = tmp_path / "quotes.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label", "source", "note"])
        writer.writeheader()
        for r in tiny_records:
            writer.writerow(
                {
                    "id": r["id"],
                    "text": r["text"],
                    "label": r["label"],
                    "source": r["source"],
                    "note": "x|y",
                }
            )
    report = tmp_path / "report"
    out = runner.invoke(app, ["evaluate", "-m", str(baseline_model), "-d", str(data), "--report", str(report),
                              "--resamples", "50", "--seed", "3"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "macro-F1" in out.stdout and "confusion matrix" in out.stdout and "n = 18" in out.stdout
    md = (report / "report.md").read_text(encoding="utf-8")
    for heading in ("Per label", "Confusion matrix", "Calibration", "Misclassified quotes"):
        assert heading in md
    assert "![Confusion matrix](confusion_matrix.png)" in md
    assert "![Reliability diagram](reliability.png)" in md
    assert _is_png(report / "confusion_matrix.png")
    assert _is_png(report / "reliability.png")


def test_cli_evaluate_unknown_labels_error(baseline_model, tmp_path):
    data = tmp_path / "odd.jsonl"
    rows = [{"text": "Fine by me.", "label": "support"}, {"text": "No view.", "label": "neutral"},
            {"text": "Meh.", "label": "unsure"}]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = runner.invoke(
        app, ["evaluate", "--model", str(baseline_model), "--data", str(data), "--json"]
    )
    assert out.exit_code == 1
    assert out.stdout == ""
    assert "error:" in out.stderr and f"{data}:2" in out.stderr
    assert "neutral, unsure" in out.stderr
    assert "support, oppose, conditional" in out.stderr  # the model's labels
    assert "Traceback" not in out.output


def test_cli_errors_exit_cleanly(tmp_path, tiny_splits):
    # A user error must end the process with exit code 1 (SystemExit), not escape as an
    # exception: outside CliRunner an escaping exception prints a traceback after the message.
    out = runner.invoke(
        app, ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(tiny_splits["test"])]
    )
    assert out.exit_code == 1
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)


def test_cli_evaluate_missing_model(tmp_path, tiny_splits):
    out = runner.invoke(
        app, ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(tiny_splits["test"])]
    )
    assert out.exit_code == 1
    assert "model directory not found" in out.stderr


# --- compare ---------------------------------------------------------------------------------


def test_cli_compare_two_models(baseline_model, transformer_model, tiny_splits, tmp_path):
    report = tmp_path / "cmp"
    out = runner.invoke(app, ["compare", "--data", str(tiny_splits["test"]), str(baseline_model),
                              str(transformer_model), "--json", "--resamples", "100", "--report", str(report)])  # fmt: skip
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["n"] == 3
    assert [m["kind"] for m in result["models"]] == ["baseline", "transformer"]
    names = [m["name"] for m in result["models"]]
    assert len(set(names)) == 2  # both directories are called "model": names are made unique
    for m in result["models"]:
        _check_eval_dict(m, n=3)
    majority = result["majority"]
    assert majority["label"] in LABELS and majority["from_training_data"] is True
    assert "training data" in majority["source"]
    (pair,) = result["pairs"]
    assert (pair["a"], pair["b"]) == tuple(names)
    assert set(pair["macro_f1"]) >= {"difference", "ci", "p_value"}
    assert 0 < pair["macro_f1"]["p_value"] <= 1
    assert pair["mcnemar"]["method"] == "exact"
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "Paired tests" in md and "majority" in md
    assert _is_png(report / "comparison.png")
    assert len(list(report.glob("*_confusion_matrix.png"))) == 2
    assert len(list(report.glob("*_reliability.png"))) == 2


def test_compare_text_output_and_identical_models(baseline_model, tiny_splits):
    out = runner.invoke(app, ["compare", "-d", str(tiny_splits["test"]), str(baseline_model), str(baseline_model),
                              "--resamples", "50"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "paired bootstrap p = 1.000" in out.stdout
    assert "majority" in out.stdout


def test_compare_needs_two_models(baseline_model, tiny_splits):
    out = runner.invoke(app, ["compare", "-d", str(tiny_splits["test"]), str(baseline_model)])
    assert out.exit_code == 1
    assert "at least two models" in out.stderr


def test_compare_majority_falls_back_to_the_file_and_says_so(baseline_model, tiny_splits):
    from stance.inference.predictor import load

    predictor = load(baseline_model)
    stripped = type(predictor)(predictor.pipeline, predictor.labels, model_dir=None,
                               metadata={k: v for k, v in predictor.metadata.items() if k != "data_counts"})  # fmt: skip
    result = compare([stripped, predictor], tiny_splits["test"], n_resamples=50, names=["a", "b"])
    # The second model still records its training counts, so those are used.
    assert result["majority"]["from_training_data"] is True
    result = compare([stripped, stripped], tiny_splits["test"], n_resamples=50, names=["a", "b"])
    assert result["majority"]["from_training_data"] is False
    assert "evaluated file" in result["majority"]["source"]


# --- cross-validation ------------------------------------------------------------------------


def test_cli_cv_baseline(baseline_config, tmp_path):
    report = tmp_path / "cv"
    out = runner.invoke(app, ["cv", "--config", str(baseline_config), "--json", "--resamples", "100",
                              "--report", str(report)])  # fmt: skip
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    _check_eval_dict(result, n=18)  # every seed quote predicted once, out of fold
    assert result["kind"] == "baseline"
    assert result["n_folds"] == result["n_articles"] == 3
    assert [f["article"] for f in result["folds"]] == ["a.txt", "b.txt", "c.txt"]
    assert all(f["n_test"] == 6 and f["n_train"] == 12 for f in result["folds"])
    assert result["majority"]["n"] == 18
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "Per fold" in md and "a.txt" in md
    assert _is_png(report / "cv_confusion_matrix.png") and _is_png(report / "cv_reliability.png")


def test_cv_transformer_one_fold(transformer_config):
    result = cross_validate(transformer_config, folds=1, n_resamples=50)
    assert result["kind"] == "transformer"
    assert result["n_folds"] == 1 and result["n_articles"] == 3
    assert result["n"] == 6 and result["folds"][0]["article"] == "a.txt"


def test_cli_cv_text(baseline_config):
    out = runner.invoke(
        app, ["cv", "-c", str(baseline_config), "--folds", "2", "--resamples", "50", "-q"]
    )
    assert out.exit_code == 0, out.output
    assert "2 of 3 folds" in out.stdout and "b.txt" in out.stdout


# --- the main job -------------------------------------------------------------------------------


def _retarget(config: Path, output_dir: Path, dest: Path) -> Path:
    """A copy of a fixture config that saves its model elsewhere (the session models stay put)."""
    lines = [f"output_dir: {output_dir}" if line.startswith("output_dir:") else line
             for line in config.read_text(encoding="utf-8").splitlines()]  # fmt: skip
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def test_cli_experiment_writes_the_report(baseline_config, transformer_config, tmp_path):
    base = _retarget(baseline_config, tmp_path / "models" / "baseline", tmp_path / "b.yaml")
    trans = _retarget(transformer_config, tmp_path / "models" / "transformer", tmp_path / "t.yaml")
    reports, docs = tmp_path / "reports", tmp_path / "docs" / "report"
    docs.mkdir(parents=True)
    (docs / "stale.png").write_bytes(b"old")
    out = runner.invoke(app, ["experiment", "--baseline-config", str(base), "--transformer-config", str(trans),
                              "--report-dir", str(reports), "--docs-dir", str(docs), "--quiet",
                              "--resamples", "100", "--cv", "--cv-folds", "1"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "baseline - transformer: macro-F1 difference" in out.stdout
    assert "majority" in out.stdout and "timings:" in out.stdout
    (run_dir,) = list(reports.iterdir())
    for directory in (run_dir, docs):
        md = (directory / "report.md").read_text(encoding="utf-8")
        for text in ("Summary", "Paired tests", "baseline (baseline) on the test split",
                     "transformer (transformer) on the test split", "Cross-validation: baseline"):  # fmt: skip
            assert text in md, text
        for name in ("comparison.png", "baseline_confusion_matrix.png", "baseline_reliability.png",
                     "transformer_confusion_matrix.png", "transformer_reliability.png",
                     "baseline_cv_confusion_matrix.png"):  # fmt: skip
            assert _is_png(directory / name), name
        experiment = json.loads((directory / "experiment.json").read_text(encoding="utf-8"))
        assert experiment["comparison"]["n"] == 3
        assert set(experiment["timings"]) >= {
            "train_baseline",
            "train_transformer",
            "evaluate",
            "total",
        }
    assert not (docs / "stale.png").exists()  # the docs copy is replaced as a whole
    assert (tmp_path / "models" / "baseline" / "metadata.json").is_file()
    assert (tmp_path / "models" / "transformer" / "metadata.json").is_file()


def test_experiment_rejects_different_test_files(baseline_config, transformer_config, tmp_path):
    from stance.config import load_config
    from stance.errors import ConfigError
    from stance.evaluation.experiment import run_experiment

    base = load_config(baseline_config)
    trans = load_config(transformer_config)
    trans.data.test = str(tmp_path / "other.jsonl")
    with pytest.raises(ConfigError, match="different test files"):
        run_experiment(base, trans, report_dir=None, docs_dir=None, quiet=True)
    with pytest.raises(ConfigError, match="kind 'transformer'"):
        run_experiment(base, base, report_dir=None, docs_dir=None, quiet=True)


def test_cli_evaluate_truncation_is_one_warning_line(transformer_model, tiny_records, tmp_path):
    long_text = "The vanguard programme will fail. " * 200  # far past the tiny model's max_length
    records = [dict(tiny_records[0], text=long_text)] + tiny_records[1:4]
    data = write_jsonl(tmp_path / "long.jsonl", records)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        out = runner.invoke(app, ["evaluate", "-m", str(transformer_model), "-d", str(data),
                                  "--json", "--resamples", "50"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["n"] == 4  # stdout stays pure JSON
    assert out.stderr.count("warning: 1 of 4 text(s) were longer") == 1
    assert "TruncationWarning" not in out.stderr and ".py:" not in out.stderr


def test_compare_cv_script_rebuilds_out_of_fold_predictions(tiny_records, tmp_path, capsys):
    import runpy

    from stance.models.artifacts import file_sha256

    corpus = write_jsonl(tmp_path / "corpus.jsonl", tiny_records)
    ids = [r["id"] for r in tiny_records]

    def result(wrong: dict[str, str]) -> dict:
        # The shape of `stance cv --json` that the script reads.
        return {
            "config": "x.yaml", "kind": "baseline", "corpus": str(corpus),
            "corpus_sha256": file_sha256(corpus), "labels": list(LABELS), "n": len(ids),
            "macro_f1": 0.0, "misclassified": [{"id": i, "predicted": p} for i, p in wrong.items()],
        }  # fmt: skip

    gold = {r["id"]: r["label"] for r in tiny_records}
    other = {lab: next(x for x in LABELS if x != lab) for lab in LABELS}
    a = write_jsonl(tmp_path / "a.json", [result({})])  # perfect
    b = write_jsonl(tmp_path / "b.json", [result({i: other[gold[i]] for i in ids[:6]})])
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "compare_cv.py"))["main"]
    assert main([str(a), str(b), "--resamples", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == len(ids)
    assert out["paired_bootstrap_macro_f1"]["macro_f1_a"] == 1.0
    assert out["paired_bootstrap_macro_f1"]["difference"] > 0
    assert out["mcnemar_accuracy"]["a_right_b_wrong"] == 6
    assert out["mcnemar_accuracy"]["a_wrong_b_right"] == 0
