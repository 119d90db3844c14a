"""evaluate / compare / cv / experiment: library functions and CLI, on the tiny fixtures."""

from __future__ import annotations

import csv
import io
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
                              "--resamples", "50", "--bootstrap-seed", "3"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "macro-F1" in out.stdout and "confusion matrix" in out.stdout and "n = 18" in out.stdout
    md = (report / "report.md").read_text(encoding="utf-8")
    for heading in ("Per label", "Confusion matrix", "Calibration", "Misclassified quotes"):
        assert heading in md
    assert "![Confusion matrix](confusion_matrix.png)" in md
    assert "![Reliability diagram](reliability.png)" in md
    assert _is_png(report / "confusion_matrix.png")
    assert _is_png(report / "reliability.png")


def test_evaluate_by_a_column_breaks_down_accuracy_and_shares(baseline_model, tiny_records,
                                                              tmp_path):  # fmt: skip
    from sklearn.metrics import accuracy_score

    data = write_jsonl(tmp_path / "all.jsonl", tiny_records)
    result = evaluate(baseline_model, data, n_resamples=50, by="role")
    rows = result["by"]["rows"]
    assert result["by"]["column"] == "role" and rows[-1]["group"] == "(all)"
    assert rows[-1]["accuracy"] == pytest.approx(result["accuracy"])
    predicted = {m["line"]: m["predicted"] for m in result["misclassified"]}
    assert 0 < len(predicted) < len(tiny_records)  # the tiny baseline errs on some, not all
    for row in rows[:-1]:
        lines = [i + 1 for i, r in enumerate(tiny_records) if r["role"] == row["group"]]
        gold = [tiny_records[i - 1]["label"] for i in lines]
        pred = [predicted.get(i, g) for i, g in zip(lines, gold)]  # unlisted lines were right
        assert row["n"] == len(lines)
        assert row["accuracy"] == pytest.approx(accuracy_score(gold, pred))
        for label in LABELS:
            share = row["shares"][label]
            assert share["gold"] == pytest.approx(gold.count(label) / len(gold))
            assert share["predicted"] == pytest.approx(pred.count(label) / len(pred))


def test_cli_evaluate_by_prints_and_reports_the_breakdown(baseline_model, tiny_records, tmp_path):
    data = write_jsonl(tmp_path / "all.jsonl", tiny_records)
    report = tmp_path / "report"
    out = runner.invoke(app, ["evaluate", "-m", str(baseline_model), "-d", str(data), "--by",
                              "source", "--resamples", "30", "--report", str(report)])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "by source" in out.stdout and "a.txt" in out.stdout and "(all)" in out.stdout
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "## By source" in md and "support: gold -> predicted (gap [95% CI])" in md


def test_cli_evaluate_by_a_missing_column_is_one_line_before_predicting(baseline_model,
                                                                        tiny_splits, monkeypatch):  # fmt: skip
    import stance.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "predict_data", lambda *a, **k: pytest.fail("predicted first"))
    out = runner.invoke(app, ["evaluate", "-m", str(baseline_model), "-d",
                              str(tiny_splits["test"]), "--by", "rolee"])  # fmt: skip
    assert out.exit_code == 1 and "Traceback" not in out.output
    message = out.stderr.strip()
    assert "\n" not in message and str(tiny_splits["test"]) in message
    assert "no column 'rolee'" in message and "role" in message and "--by" in message


def test_one_source_for_every_quote_is_reported_as_a_quote_bootstrap(baseline_model,
                                                                     tiny_records, tmp_path):  # fmt: skip
    # data/dev_positions.jsonl: every quote's source is "dev_positions"; nothing to cluster by.
    data = write_jsonl(tmp_path / "one.jsonl", [{**r, "source": "one"} for r in tiny_records])
    result = evaluate(baseline_model, data, n_resamples=30)
    assert result["ci_unit"] == "quote" and result["settings"]["group_column"] is None
    assert "over quotes" in result["settings"]["ci_method"]
    two = write_jsonl(tmp_path / "two.jsonl", tiny_records)
    assert evaluate(baseline_model, two, n_resamples=30)["settings"]["group_column"] == "source"


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


def test_cli_cv_seed_overrides_the_training_seed(baseline_config):
    out = runner.invoke(app, ["cv", "--config", str(baseline_config), "--json", "--folds", "1",
                              "--resamples", "20", "--seed", "3"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["settings"]["train_seed"] == 3  # the config says 7


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


def test_cli_experiment_writes_the_report(
    baseline_config, transformer_config, tiny_records, tmp_path
):
    base = _retarget(baseline_config, tmp_path / "models" / "baseline", tmp_path / "b.yaml")
    trans = _retarget(transformer_config, tmp_path / "models" / "transformer", tmp_path / "t.yaml")
    reports, docs = tmp_path / "reports", tmp_path / "docs" / "report"
    docs.mkdir(parents=True)
    (docs / "stale.png").write_bytes(b"old")
    # Reworded training quotes: an extra set must share no text with training.
    blind = [dict(r, text="Reportedly, " + r["text"]) for r in tiny_records[:9]]
    extra = write_jsonl(tmp_path / "eval" / "blind.jsonl", blind)
    out = runner.invoke(app, ["experiment", "--baseline-config", str(base), "--transformer-config", str(trans),
                              "--report-dir", str(reports), "--docs", "--docs-dir", str(docs), "--quiet",
                              "--resamples", "100", "--cv", "--cv-folds", "1",
                              "--extra-eval", str(extra)])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "baseline - transformer: macro-F1 difference" in out.stdout
    assert "majority" in out.stdout and "timings:" in out.stdout
    assert "side by side" in out.stdout and "blind (n = 9)" in out.stdout
    # What validation did for each model (C comes from cross-validation on the training split).
    for use in ("validation chose the best epoch and fitted the calibration: model selection",
                "C was chosen by grouped cross-validation on the training split"):  # fmt: skip
        assert use in out.stdout, use
    (run_dir,) = list(reports.iterdir())
    for directory in (run_dir, docs):
        md = (directory / "report.md").read_text(encoding="utf-8")
        for text in ("Summary: test split", "Paired tests", "baseline (baseline) on the test split",
                     "transformer (transformer) on the test split", "Cross-validation: baseline",
                     "Every evaluation set", "blind (n = 9)", "model selection",
                     "C was chosen by grouped cross-validation on the training split only",
                     "macro-F1 CI over quotes", "cluster bootstrap"):  # fmt: skip
            assert text in md, text
        for name in ("comparison.png", "baseline_confusion_matrix.png", "baseline_reliability.png",
                     "transformer_confusion_matrix.png", "transformer_reliability.png",
                     "baseline_cv_confusion_matrix.png"):  # fmt: skip
            assert _is_png(directory / name), name
        experiment = json.loads((directory / "experiment.json").read_text(encoding="utf-8"))
        assert experiment["comparison"]["n"] == 3
        (blind,) = experiment["extra"]
        assert blind["set"] == "blind" and blind["n"] == 9
        # The blind file names two articles: the main intervals resample them.
        assert {m["ci_unit"] for m in blind["models"]} == {"group"}
        assert set(experiment["timings"]) >= {
            "train_baseline",
            "train_transformer",
            "evaluate",
            "total",
        }
    assert not (docs / "stale.png").exists()  # the docs copy is replaced as a whole
    assert (tmp_path / "models" / "baseline" / "metadata.json").is_file()
    assert (tmp_path / "models" / "transformer" / "metadata.json").is_file()


def test_experiment_leaves_the_docs_copy_alone_without_docs(baseline_config, transformer_config,
                                                            tmp_path, monkeypatch):  # fmt: skip
    base = _retarget(baseline_config, tmp_path / "models" / "baseline", tmp_path / "b.yaml")
    trans = _retarget(transformer_config, tmp_path / "models" / "transformer", tmp_path / "t.yaml")
    monkeypatch.chdir(tmp_path)  # the default docs/report and reports/ resolve here
    docs = tmp_path / "docs" / "report"
    docs.mkdir(parents=True)
    (docs / "report.md").write_text("committed\n", encoding="utf-8")
    out = runner.invoke(app, ["experiment", "--baseline-config", str(base), "--transformer-config", str(trans),
                              "--quiet", "--resamples", "50", "--no-extra-eval"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (docs / "report.md").read_text(encoding="utf-8") == "committed\n"
    (run_dir,) = list((tmp_path / "reports").iterdir())
    assert (run_dir / "report.md").is_file() and "copied to" not in out.stdout
    assert json.loads((run_dir / "experiment.json").read_text(encoding="utf-8"))["extra"] == []


@pytest.mark.parametrize("args, message", [
    (["--cv-folds", "2"], "--cv-folds applies to cross-validation"),
    (["--docs-dir", "elsewhere"], "--docs-dir applies with --docs"),
    (["--no-extra-eval", "--extra-eval", "x.jsonl"], "contradict"),
])  # fmt: skip
def test_cli_experiment_rejects_options_out_of_place(args, message):
    out = runner.invoke(app, ["experiment", "--quiet", *args])
    assert out.exit_code == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_experiment_extra_eval_defaults_come_from_constants(tmp_path, monkeypatch):
    from stance.constants import EXTRA_EVAL_PATHS
    from stance.errors import DataError
    from stance.evaluation.experiment import extra_eval_files

    monkeypatch.chdir(tmp_path)
    assert extra_eval_files() == []  # none exist here
    write_jsonl(tmp_path / EXTRA_EVAL_PATHS[-1], [{"text": "x", "label": "support"}])
    assert extra_eval_files() == [EXTRA_EVAL_PATHS[-1]]
    with pytest.raises(DataError, match="extra evaluation file not found"):
        extra_eval_files(["missing.jsonl"])


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


def _configs(baseline_config: Path, transformer_config: Path, tmp_path: Path):
    """The fixture configs, loaded, saving their models under ``tmp_path``."""
    from stance.config import load_config

    base, trans = load_config(baseline_config), load_config(transformer_config)
    base.output_dir, trans.output_dir = str(tmp_path / "baseline"), str(tmp_path / "transformer")
    return base, trans


@pytest.mark.parametrize("transformer_dir", ["baseline", "baseline/inner", "."])
def test_experiment_refuses_one_output_folder_for_both(baseline_config, transformer_config,
                                                       tmp_path, transformer_dir):  # fmt: skip
    from stance.errors import ConfigError
    from stance.evaluation.experiment import run_experiment

    base, trans = _configs(baseline_config, transformer_config, tmp_path)
    trans.output_dir = str(tmp_path / transformer_dir)
    with pytest.raises(ConfigError, match="expected separate output folders") as info:
        run_experiment(base, trans, report_dir=None, quiet=True, extra_eval=[])
    assert "give each config its own output_dir" in str(info.value)
    assert not (tmp_path / "baseline").exists()  # refused before any training


@pytest.mark.parametrize("column, value", [("text_column", "quote"), ("group_column", "article")])
def test_experiment_refuses_configs_naming_different_columns(baseline_config, transformer_config,
                                                             tmp_path, column, value):  # fmt: skip
    from stance.errors import ConfigError
    from stance.evaluation.experiment import run_experiment

    base, trans = _configs(baseline_config, transformer_config, tmp_path)
    setattr(trans.data, column, value)
    with pytest.raises(ConfigError, match=f"data.{column} '.+' and '{value}'"):
        run_experiment(base, trans, report_dir=None, quiet=True, extra_eval=[])
    assert not (tmp_path / "baseline").exists()


def _rename(path: Path, dest: Path, names: dict[str, str], extra: tuple[dict, ...] = ()) -> str:
    """A copy of a JSONL file (plus ``extra`` rows) with its columns renamed by ``names``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [{names.get(k, k): v for k, v in r.items()} for r in [*rows, *extra]]
    return str(write_jsonl(dest, rows))


def test_experiment_scores_with_the_configs_columns(baseline_config, transformer_config,
                                                    tiny_splits, tmp_path):  # fmt: skip
    """Data whose quotes are in `quote` and articles in `article`: training read them, so the
    evaluation must too (the intervals resampling articles), extra sets included. A training
    text in the extra set is warned about under data.leakage: warn."""
    from stance.evaluation.experiment import run_experiment
    from stance.models.training import LeakageWarning

    names = {"text": "quote", "source": "article"}
    base, trans = _configs(baseline_config, transformer_config, tmp_path)
    files = {split: _rename(tiny_splits[split], tmp_path / f"{split}.jsonl", names)
             for split in ("train", "validation", "test")}  # fmt: skip
    trained = json.loads(tiny_splits["train"].read_text(encoding="utf-8").splitlines()[0])
    extra = _rename(tiny_splits["test"], tmp_path / "extra.jsonl", names, (trained,))
    for cfg in (base, trans):
        for split, path in files.items():
            setattr(cfg.data, split, path)
        cfg.data.text_column, cfg.data.group_column, cfg.data.leakage = "quote", "article", "warn"
    with pytest.warns(LeakageWarning, match="1 extra evaluation text"):
        result = run_experiment(base, trans, report_dir=None, quiet=True, extra_eval=[extra],
                                n_resamples=50)  # fmt: skip
    # The test split is one article, so its intervals resample quotes and its settings say so;
    # the extra set spans two articles, read from the config's column: its intervals resample them.
    assert (
        result["comparison"]["n"] == 3 and result["comparison"]["settings"]["group_column"] is None
    )
    assert (
        result["extra"][0]["n"] == 4 and result["extra"][0]["settings"]["group_column"] == "article"
    )
    assert {m["ci_unit"] for m in result["extra"][0]["models"]} == {"group"}


def test_experiment_refuses_extra_sets_that_are_not_held_out(baseline_config, transformer_config,
                                                             tiny_splits, tmp_path):  # fmt: skip
    from stance.errors import DataError
    from stance.evaluation.experiment import run_experiment

    base, trans = _configs(baseline_config, transformer_config, tmp_path)
    copy = tmp_path / "copy_of_validation.jsonl"
    copy.write_bytes(tiny_splits["validation"].read_bytes())
    rows = tiny_splits["train"].read_text(encoding="utf-8").splitlines()
    leaky = write_jsonl(tmp_path / "leaky.jsonl", [dict(json.loads(rows[2]), id="x")])
    val_rows = tiny_splits["validation"].read_text(encoding="utf-8").splitlines()
    from_validation = write_jsonl(tmp_path / "from_validation.jsonl",
                                  [dict(json.loads(val_rows[0]), id="y")])  # fmt: skip
    for path, message in ((tiny_splits["train"], "found the training split"),
                          (copy, "found the validation split"),
                          (leaky, "1 extra evaluation text.s. also occur in the training data"),
                          (from_validation, "1 extra evaluation text.s. also occur in the "
                                            "validation data")):  # fmt: skip
        with pytest.raises(DataError, match=message) as info:
            run_experiment(base, trans, report_dir=None, quiet=True, extra_eval=[path])
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert not (tmp_path / "baseline").exists()  # refused before any training


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


@pytest.fixture(scope="module")
def cv_result(baseline_config) -> dict:
    return cross_validate(baseline_config, n_resamples=100)


def test_cv_keeps_every_out_of_fold_prediction(cv_result, tiny_records):
    from stance.evaluation.metrics import classification_summary

    entries = cv_result["predictions"]
    gold = {r["id"]: r for r in tiny_records}
    assert sorted(e["id"] for e in entries) == sorted(gold)  # each quote once, none missing
    for e in entries:
        assert e["gold"] == gold[e["id"]]["label"] and e["text"] == gold[e["id"]]["text"]
        assert e["article"] == gold[e["id"]]["source"]
        assert sum(e["probabilities"].values()) == pytest.approx(1.0)
        assert e["predicted"] == max(e["probabilities"], key=e["probabilities"].get)
        assert e["confidence"] == e["probabilities"][e["predicted"]]
        assert e["fold"] == ["a.txt", "b.txt", "c.txt"].index(e["article"]) + 1
    assert len(cv_result["misclassified"]) == sum(e["gold"] != e["predicted"] for e in entries)
    # The pooled scores are those of the kept predictions; the main interval resamples articles.
    again = classification_summary([e["gold"] for e in entries], [e["predicted"] for e in entries],
                                   LABELS, n_resamples=100, groups=[e["article"] for e in entries])  # fmt: skip
    assert cv_result["macro_f1"] == again["macro_f1"]
    assert cv_result["macro_f1_ci"] == again["macro_f1_ci"]
    assert cv_result["ci_unit"] == "group" and cv_result["n_groups"] == 3


def _flip(result: dict, ids: set[str]) -> dict:
    """A copy of a cv result whose predictions are wrong on ``ids`` (another label, same shape)."""
    copy = json.loads(json.dumps(result))
    for e in copy["predictions"]:
        if e["id"] in ids:
            wrong = next(x for x in LABELS if x != e["gold"])
            e["predicted"], e["confidence"] = wrong, 0.9
    return copy


def test_cli_compare_takes_two_cv_results(cv_result, tmp_path):
    from stance.evaluation.metrics import mcnemar, paired_bootstrap

    perfect = _flip(cv_result, set())
    for e in perfect["predictions"]:
        e["predicted"] = e["gold"]
    ids = sorted(e["id"] for e in perfect["predictions"])
    worse = _flip(perfect, set(ids[:5]))
    worse["predictions"].reverse()  # paired by id, not by position
    a, b = tmp_path / "cv_a.json", tmp_path / "cv_b.json"
    a.write_text(json.dumps(perfect), encoding="utf-8")
    b.write_text(json.dumps(worse), encoding="utf-8")
    out = runner.invoke(app, ["compare", str(a), str(b), "--json", "--resamples", "200"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["n"] == 18 and [m["name"] for m in result["models"]] == ["cv_a.json", "cv_b.json"]
    pair = result["pairs"][0]
    assert (pair["mcnemar"]["a_right_b_wrong"], pair["mcnemar"]["a_wrong_b_right"]) == (5, 0)
    entries = perfect["predictions"]
    by_id = {e["id"]: e for e in worse["predictions"]}
    gold = [e["gold"] for e in entries]
    pred_b = [by_id[e["id"]]["predicted"] for e in entries]
    groups = [e["article"] for e in entries]
    expected = paired_bootstrap(gold, gold, pred_b, LABELS, n_resamples=200, groups=groups)
    assert pair["macro_f1"] == expected and pair["macro_f1"]["unit"] == "group"
    assert pair["mcnemar"] == mcnemar(gold, gold, pred_b)
    text = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "50"])
    assert text.exit_code == 0 and "cv_a.json - cv_b.json: macro-F1 difference" in text.stdout
    # Options that only apply to scoring model directories are refused, not silently ignored.
    for flag in ("--batch-size", "--device"):
        value = "8" if flag == "--batch-size" else "cpu"
        out = runner.invoke(app, ["compare", str(a), str(b), flag, value])
        assert out.exit_code == 1 and f"{flag}: for model directories only" in out.output


@pytest.mark.parametrize("damage, message", [
    (lambda r: r.pop("predictions"), "rerun `stance cv --json`"),  # an old cv result
    (lambda r: r["predictions"].pop(), "rerun `stance cv --json`"),  # a truncated list
    (lambda r: r["predictions"][0].update(id="someone-else"), "quote ids differ"),
    (lambda r: r["predictions"][0].update(gold="oppose" if r["predictions"][0]["gold"] != "oppose"
                                          else "support"), "another gold label"),
])  # fmt: skip
def test_compare_refuses_cv_results_that_cannot_be_paired(cv_result, tmp_path, damage, message):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(cv_result), encoding="utf-8")
    broken = json.loads(json.dumps(cv_result))
    damage(broken)
    b.write_text(json.dumps(broken), encoding="utf-8")
    out = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "20"])
    assert out.exit_code == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line and str(b) in line


def test_compare_refuses_mixed_or_missing_inputs(cv_result, baseline_model, tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps(cv_result), encoding="utf-8")
    mixed = runner.invoke(app, ["compare", str(a), str(baseline_model)])
    assert mixed.exit_code == 1 and "not both" in mixed.stderr
    no_data = runner.invoke(app, ["compare", str(baseline_model), str(baseline_model)])
    assert no_data.exit_code == 1 and "--data is required" in no_data.stderr


def test_compare_cv_script_is_gone():
    # `stance compare a.json b.json` replaced it; it rebuilt predictions from a capped list.
    assert not (Path(__file__).parents[1] / "scripts" / "compare_cv.py").exists()


# --- warnings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "category", [UserWarning, FutureWarning, DeprecationWarning, RuntimeWarning]
)
def test_every_command_shows_library_warnings_as_one_line(category, monkeypatch, tmp_path):
    """`stance score` (and any command: the app's group wraps them all) prints a library warning
    as one `warning: ...` line, never Python's `file.py:123: Category` + source-line form."""
    import stance.extract.score

    def fake_score_articles(files, model=None):
        warnings.warn("the tokenizer option x is deprecated", category, stacklevel=2)
        return {str(f): [] for f in files}

    monkeypatch.setattr(stance.extract.score, "score_articles", fake_score_articles)
    article = tmp_path / "a.txt"
    article.write_text("No quotes here.\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        out = runner.invoke(app, ["score", str(article)])
    assert out.exit_code == 0, out.output
    lines = [line for line in out.stderr.splitlines() if "deprecated" in line]
    assert lines == ["warning: the tokenizer option x is deprecated"]
    assert category.__name__ not in out.stderr and ".py:" not in out.stderr


def test_warnings_of_another_command_are_one_line_too(monkeypatch, tmp_path):
    import stance.cli.info  # noqa: F401  (registers `info`)
    import stance.models.artifacts

    def fake_read_metadata(model_dir):
        warnings.warn("metadata written by a newer stance", UserWarning, stacklevel=2)
        return {"kind": "baseline"}

    monkeypatch.setattr(stance.models.artifacts, "read_metadata", fake_read_metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        out = runner.invoke(app, ["info", "--model", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert out.stderr.strip() == "warning: metadata written by a newer stance"


# --- progress output ---------------------------------------------------------------------------


class _FakeStream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _run_epochs(reporter, epochs: int = 2, steps: int = 5) -> None:
    from types import SimpleNamespace

    state = SimpleNamespace(is_world_process_zero=True)
    args = SimpleNamespace(gradient_accumulation_steps=1)
    for epoch in range(epochs):
        reporter.on_epoch_begin(args, state, None, train_dataloader=list(range(steps)))
        for _ in range(steps):
            reporter.on_step_end(args, state, None)
        reporter.on_epoch_end(args, state, None)
        reporter.on_log(args, state, None, logs={"loss": 1.0 - epoch / 10})
        reporter.on_evaluate(
            args, state, None, metrics={"eval_macro_f1": 0.5, "eval_accuracy": 0.6}
        )


def test_training_progress_in_a_log_file_is_one_line_per_epoch():
    from stance.models.hf_trainer import EpochReporter

    log = _FakeStream(tty=False)
    _run_epochs(EpochReporter(2, has_validation=True, show=True, stream=log))
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines() == [
        "epoch 1/2: train loss 1.000, validation macro-F1 0.500, accuracy 0.600",
        "epoch 2/2: train loss 0.900, validation macro-F1 0.500, accuracy 0.600",
    ]


def test_training_progress_on_a_terminal_draws_live_bars():
    from stance.models.hf_trainer import EpochReporter

    terminal = _FakeStream(tty=True)
    _run_epochs(EpochReporter(2, has_validation=True, show=True, stream=terminal))
    text = terminal.getvalue()
    assert "\r" in text and "0/5" in text  # tqdm frames, redrawn in place
    assert "epoch 2/2: train loss 0.900" in text


def test_prediction_progress_fits_the_stream():
    from stance.progress import Progress

    log = _FakeStream(tty=False)
    progress = Progress(total=1000, desc="predict", unit="row", stream=log)
    for done in range(64, 1001, 64):  # batches of 64 rows, then the last partial one
        progress.update_to(done)
    progress.update_to(1000)
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 5 <= len(lines) <= 11 and lines[-1] == "predict: 1000/1000 rows (100%)"
    terminal = _FakeStream(tty=True)
    bar = Progress(total=1000, desc="predict", unit="row", stream=terminal)
    for done in range(100, 1001, 100):
        bar.update_to(done)
    bar.close()
    assert "\r" in terminal.getvalue() and "predict: 1000/1000 rows" not in terminal.getvalue()


def test_one_table_and_shortening_helper():
    """Reports, model cards and the terminal share stance.tables (issue 19.17)."""
    import stance.cli.extract
    import stance.evaluation.report
    import stance.models.model_card
    from stance.tables import markdown_table, shorten, terminal_table

    assert stance.evaluation.report._table is markdown_table
    assert stance.evaluation.report._terminal_table is terminal_table
    assert stance.models.model_card.shorten is shorten and stance.cli.extract.shorten is shorten
    assert markdown_table(["a", "b"], [["x|y", "1\n2"]]).splitlines() == ["| a | b |", "|---|---:|",
                                                                        "| x\\|y | 1 2 |"]  # fmt: skip
    assert terminal_table(["label", "n"], [["support", 12]]) == ["label     n", "support  12"]
    assert shorten("one  two\nthree", 9) == "one two …" and shorten("short", 9) == "short"


def test_display_names_are_unique_for_folders_of_the_same_name():
    """Rows of compare and of the benchmark's --also are keyed by these names: two models in
    folders called "model" must not share one."""
    from stance.evaluation.evaluate import display_names

    assert display_names(["models/a", "models/b"], ["transformer"] * 2) == ["a", "b"]
    assert display_names(["runs/x/model", "runs/y/model"], ["transformer"] * 2) == [
        "x/model",
        "y/model",
    ]
    assert display_names(["runs/model", "runs/model"], ["transformer"] * 2) == [
        "1:model",
        "2:model",
    ]


def test_scoring_a_models_own_training_split_is_flagged_in_sample(baseline_model, tiny_splits):
    """The model records its splits by sha256: scores on them are marked and warned about
    (one line in the CLI), as they are not held-out."""
    import warnings as _warnings

    from typer.testing import CliRunner

    from stance.cli import app
    from stance.evaluation.evaluate import evaluate
    from stance.models.training import LeakageWarning

    with pytest.warns(LeakageWarning, match="is the training split .* in-sample"):
        result = evaluate(baseline_model, tiny_splits["train"], n_resamples=20)
    assert result["in_sample"] == "training"
    with _warnings.catch_warnings():
        _warnings.simplefilter("error", LeakageWarning)
        assert evaluate(baseline_model, tiny_splits["test"], n_resamples=20)["in_sample"] is None
    res = CliRunner().invoke(app, ["evaluate", "-m", str(baseline_model), "-d",
                                   str(tiny_splits["validation"]), "--resamples", "20"])  # fmt: skip
    assert res.exit_code == 0 and "warning: " in res.output and "validation split" in res.output
