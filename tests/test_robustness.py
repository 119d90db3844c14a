"""Robustness and consistency (issue 19): one JSONL reader and writer, long CSV fields, JSON that
is not JSON Lines, configured column names, config ranges, options that do not apply, devices
that are not there, and option names and item numbers that agree across commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stance.cli import app
from stance.config import config_from_dict
from stance.data.corpus import check_files, ensure_valid
from stance.data.io import iter_records, json_line, load_labelled, write_jsonl
from stance.errors import ConfigError, DataError, ModelError

from .conftest import write_jsonl as write_plain_jsonl

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
# Line breaks that str.splitlines() honours inside a line, and a lone surrogate.
AWKWARD = "one\u2028two\u2029three\x85four \ud800 five"


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in result.output, result.output


# --- one JSONL writer, one reader -------------------------------------------------------------


def test_json_line_escapes_line_breaks_and_lone_surrogates(tmp_path):
    line = json_line({"text": AWKWARD, "emoji": "😀"})
    assert line.count("\n") == 1 and len(line.splitlines()) == 1
    assert "\\u2028" in line and "\\u2029" in line and "\\u0085" in line and "\\ud800" in line
    assert "😀" in line  # other text stays readable UTF-8
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": AWKWARD}, {"text": "plain"}])
    raw = path.read_bytes().decode("utf-8")  # valid UTF-8: no raw surrogate
    assert len(raw.splitlines()) == 2
    assert [r for _, r in iter_records(path)] == [{"text": AWKWARD}, {"text": "plain"}]


def test_no_module_writes_json_lines_by_itself():
    """Every JSONL writer goes through stance.data.io.json_line, so escaping is the same."""
    # json.dumps(...) + "\n" without indent: a hand-made JSON line (indented JSON is a document).
    pattern = re.compile(r"json\.dumps\((?![^)]*indent)[^)]*\)[^\n]*\+ *\"\\n\"")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "stance").rglob("*.py")
        if path.name != "io.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_data_split_writes_a_lone_surrogate_that_check_accepts(tmp_path, tiny_records):
    records = [dict(r) for r in tiny_records]
    records[0]["text"] = "Odd byte \ud800 in a quote."
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert runner.invoke(app, ["data", "check", str(corpus)]).exit_code == 0
    out = tmp_path / "splits"
    result = runner.invoke(
        app, ["data", "split", str(corpus), "--out", str(out), "--test-source", "c.txt"]
    )
    assert result.exit_code == 0, result.output
    written = [json.loads(line)["text"] for name in ("train", "validation", "test")
               for line in (out / f"{name}.jsonl").read_text("utf-8").splitlines()]  # fmt: skip
    assert records[0]["text"] in written


def test_predict_file_and_extract_share_the_writer(baseline_model, tmp_path):
    from stance.inference.predictor import predict_file

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": AWKWARD}])
    out = tmp_path / "out.jsonl"
    predict_file(source, out, baseline_model)
    raw = out.read_bytes().decode("utf-8")
    assert len(raw.splitlines()) == 1 and "\\u2028" in raw and "\\ud800" in raw
    article = tmp_path / "a.txt"
    article.write_text('Dr Ann Lee said: "We back\u2028the plan."\n', encoding="utf-8")
    extracted = tmp_path / "units.jsonl"
    assert runner.invoke(app, ["extract", str(article), "-o", str(extracted)]).exit_code == 0
    assert all(json_line(r) in extracted.read_text("utf-8") for _, r in iter_records(extracted))


# --- CSV fields over 131,072 characters ---------------------------------------------------------


def test_long_csv_field_is_read_not_malformed(tmp_path, baseline_model):
    long_text = "We back the plan. " * 10_000  # 180,000 characters
    path = tmp_path / "long.csv"
    path.write_text(f'text,label\n"{long_text}",support\nShort one.,oppose\n', encoding="utf-8")
    data = load_labelled(path)
    assert data.texts[0] == long_text and data.labels == ["support", "oppose"]
    assert check_files([path], fields=("text", "label")) == []
    result = runner.invoke(
        app, ["evaluate", "-m", str(baseline_model), "-d", str(path), "--resamples", "10"]
    )
    assert result.exit_code == 0, result.output


# --- JSON that is not JSON Lines ----------------------------------------------------------------


@pytest.mark.parametrize("indent", [2, None], ids=["pretty-array", "one-line-array"])
def test_json_array_says_expected_json_lines(tmp_path, indent):
    path = tmp_path / "quotes.json"
    path.write_text(json.dumps([{"text": "a", "label": "support"}] * 3, indent=indent), "utf-8")
    with pytest.raises(
        DataError, match=r"quotes\.json:1: found a JSON array .*expected JSON Lines"
    ):
        load_labelled(path)
    problems = check_files([path], fields=("text", "label"))
    assert len(problems) == 1 and "expected JSON Lines" in problems[0].message


def test_pretty_printed_object_says_expected_json_lines(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"text": "a", "label": "support"}, indent=2), "utf-8")
    problems = check_files([path], fields=("text", "label"))
    assert [p.line for p in problems] == [1] and "expected JSON Lines" in problems[0].message


# --- configured column names reach validation and cross-validation -----------------------------


def _renamed(records: list[dict]) -> list[dict]:
    out = []
    for r in records:
        r = dict(r)
        r["quote"], r["stance"] = r.pop("text"), r.pop("label")
        out.append(r)
    return out


def test_check_and_ensure_valid_take_column_names(tmp_path, tiny_records):
    corpus = write_plain_jsonl(tmp_path / "corpus.jsonl", _renamed(tiny_records))
    fields = ("id", "text", "label", "source", "speaker", "role", "reform")
    assert check_files([corpus], fields=fields, text_column="quote", label_column="stance") == []
    ensure_valid(corpus, text_column="quote", label_column="stance")
    with pytest.raises(DataError, match="missing field 'text'.*check .* --label-column stance`"):
        ensure_valid(corpus, label_column="stance")
    result = runner.invoke(
        app, ["data", "check", str(corpus), "--text-column", "quote", "--label-column", "stance"]
    )
    assert result.exit_code == 0, result.output


def test_cv_honours_configured_columns(tmp_path, tiny_records, baseline_config):
    corpus = write_plain_jsonl(tmp_path / "corpus.jsonl", _renamed(tiny_records))
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["data"].update(corpus=str(corpus), text_column="quote", label_column="stance")
    config = tmp_path / "renamed.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = runner.invoke(
        app, ["cv", "--config", str(config), "--folds", "1", "--resamples", "10", "-q", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_folds"] == 1


# --- labels are normalised the same way everywhere ---------------------------------------------


def test_check_accepts_a_label_with_surrounding_whitespace_as_train_does(tmp_path):
    path = write_plain_jsonl(
        tmp_path / "x.jsonl", [{"text": "We back it.", "label": "support "},
                               {"text": "No.", "label": "\toppose"}],
    )  # fmt: skip
    assert load_labelled(path).labels == ["support", "oppose"]
    result = runner.invoke(app, ["data", "check", str(path), "--minimal"])
    assert result.exit_code == 0, result.output


# --- config ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key", "expected"),
    [
        ({"seed": -1}, "seed", "between 0 and 4294967295"),
        ({"seed": 2**32}, "seed", "between 0 and 4294967295"),
        ({"baseline": {"min_df": 0}}, "baseline.min_df", "an integer >= 1"),
        ({"baseline": {"max_features": 0}}, "baseline.max_features", "an integer >= 1"),
        ({"baseline": {"max_iter": 0}}, "baseline.max_iter", "an integer >= 1"),
        ({"baseline": {"cv_folds": 1}}, "baseline.cv_folds", "an integer >= 2"),
        ({"data": {"text_column": "label"}}, "data.label_column", "other than data.text_column"),
        ({"data": {"labels": ["a", " "]}}, "data.labels", "non-blank"),
    ],
)
def test_baseline_config_ranges(raw, key, expected):
    with pytest.raises(ConfigError, match=rf"key '{re.escape(key)}': expected .*{expected}"):
        config_from_dict({"kind": "baseline", **raw})


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("learning_rate", 0, "a number > 0"),
        ("warmup_ratio", 1.0, "in [0, 1)"),
        ("layerwise_lr_decay", 0.0, "in (0, 1]"),
        ("weight_decay", -0.1, ">= 0"),
        ("early_stopping_patience", -1, ">= 0"),
        ("freeze_epochs", -1, ">= 0"),
        ("freeze_lower_layers", -1, ">= 0"),
        ("gradient_accumulation_steps", 0, ">= 1"),
        ("eval_batch_size", 0, ">= 1"),
        ("max_length_percentile", 101, "in [50, 100]"),
    ],
)
def test_transformer_config_ranges(setting, value, expected):
    raw = {"kind": "transformer", "transformer": {setting: value}}
    with pytest.raises(
        ConfigError, match=rf"key 'transformer\.{setting}': .*{re.escape(expected)}"
    ):
        config_from_dict(raw)


def test_min_df_above_the_training_size_is_a_config_error(baseline_config, tmp_path):
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["baseline"]["min_df"] = 1000
    raw["output_dir"] = str(tmp_path / "model")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(config)])
    _one_line_error(result, "error: ", "baseline.min_df")
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--config", "x.yaml", "--seed", "-1"],
        ["evaluate", "-m", "m", "-d", "d.jsonl", "--bootstrap-seed", "-1"],
        ["compare", "m", "n", "-d", "d.jsonl", "--bootstrap-seed", "-1"],
        ["cv", "--config", "x.yaml", "--bootstrap-seed", "-1"],
        ["cv", "--config", "x.yaml", "--seed", "-1"],
        ["experiment", "--bootstrap-seed", "-1"],
        ["data", "split", "--split-seed", "-1"],
    ],
    ids=lambda argv: " ".join(argv[:1] + [a for a in argv if "seed" in a]).replace("data", "split"),
)
def test_every_seed_option_is_at_least_zero(argv):
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert "greater than or equal to 0" in result.output


def test_seed_options_are_named_apart():
    """--seed is the training seed (train, and cv's folds); bootstrap and split seeds say what
    they seed."""
    import typer

    group = typer.main.get_command(app)
    names = {
        (name, opt)
        for name, cmd in [*group.commands.items(), *group.commands["data"].commands.items()]
        for param in cmd.params
        for opt in getattr(param, "opts", [])
        if "seed" in opt
    }
    assert ("train", "--seed") in names and ("cv", "--seed") in names
    assert {"--bootstrap-seed"} == {o for n, o in names if n in ("evaluate", "compare")}
    assert ("cv", "--bootstrap-seed") in names
    assert ("split", "--split-seed") in names
    assert not [n for n, o in names if o == "--seed" and n not in ("train", "cv")]


# --- options that do not apply are refused -------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--skip-invalid"], "--skip-invalid"),
        (["--text-column", "quote"], "--text-column"),
        (["--label-column", "pred"], "--label-column"),
        (["--prob-prefix", "q_"], "--prob-prefix"),
    ],
)
def test_file_options_without_input_are_refused(baseline_model, extra, flag):
    result = runner.invoke(app, ["predict", "We back it.", "-m", str(baseline_model), *extra])
    _one_line_error(result, f"error: {flag}: for --input FILE only")


@pytest.mark.parametrize("command", ["predict", "evaluate", "compare", "score"])
def test_device_for_a_baseline_is_refused(command, baseline_model, tiny_splits, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text('Dr Ann Lee said: "We back the plan."\n', encoding="utf-8")
    model, test = str(baseline_model), str(tiny_splits["test"])
    argv = {
        "predict": ["predict", "We back it.", "-m", model],
        "evaluate": ["evaluate", "-m", model, "-d", test],
        "compare": ["compare", model, model, "-d", test],
        "score": ["score", str(article), "-m", model],
    }[command]
    result = runner.invoke(app, [*argv, "--device", "cpu"])
    _one_line_error(result, "error: --device applies to transformer models", "baseline model")


def test_cv_device_for_a_baseline_config_is_refused(baseline_config):
    result = runner.invoke(app, ["cv", "--config", str(baseline_config), "--device", "cpu"])
    _one_line_error(result, "error: --device applies to transformer configs")


# --- devices that are not there ------------------------------------------------------------------


def _missing_cuda() -> str:
    import torch

    # An index past the last GPU: unavailable on every machine, with or without CUDA.
    return f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"


def test_unavailable_device_is_a_model_error(transformer_model):
    from stance.inference.predictor import load

    with pytest.raises(ModelError, match=r"device 'cuda:\d+' is not available"):
        load(transformer_model, device=_missing_cuda())


def test_unavailable_device_in_the_cli_is_one_line(transformer_model, tiny_splits):
    device = _missing_cuda()
    for argv in (
        ["predict", "We back it.", "-m", str(transformer_model)],
        ["evaluate", "-m", str(transformer_model), "-d", str(tiny_splits["test"])],
    ):
        result = runner.invoke(app, [*argv, "--device", device])
        _one_line_error(result, f"error: device '{device}' is not available")


# --- the same options and the same numbering across commands ------------------------------------


def test_compare_takes_column_names(baseline_model, tiny_records, tmp_path):
    data = write_plain_jsonl(tmp_path / "renamed.jsonl", _renamed(tiny_records))
    result = runner.invoke(
        app, ["compare", str(baseline_model), str(baseline_model), "-d", str(data),
              "--text-column", "quote", "--label-column", "stance", "--resamples", "10", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == len(tiny_records)


def test_evaluate_passes_device_and_backend(transformer_model, tiny_splits):
    result = runner.invoke(
        app, ["evaluate", "-m", str(transformer_model), "-d", str(tiny_splits["test"]),
              "--device", "cpu", "--backend", "torch", "--resamples", "10"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_cli_and_api_number_items_alike(baseline_model):
    """Items count from 0 (as Python indexes them) in the API and the CLI, same message."""
    from stance.inference.predictor import predict

    with pytest.raises(ValueError) as info:
        predict(["We back it.", "  "], model=baseline_model)
    result = runner.invoke(app, ["predict", "We back it.", "  ", "-m", str(baseline_model)])
    _one_line_error(result, f"error: {info.value}")
    assert str(info.value).startswith("item 1: ")


# --- development tooling -------------------------------------------------------------------------


def test_lint_tooling_is_pinned_and_scoped_to_python():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"ruff==\d+\.\d+\.\d+"', pyproject)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lint = next(line for line in readme.splitlines() if line.startswith("ruff check"))
    assert "ruff format --check ." not in lint and "'*.py'" in lint
