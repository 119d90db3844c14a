"""Bad input to every command that reads files: one clean error line, never a traceback.

Each command is fed each kind of broken file (empty, not UTF-8, binary, a truncated JSON line,
a CSV without the text column or with a stray quote, a path that does not exist, a directory where a file was
expected; for configs also invalid YAML, a wrong type and an unknown key). Every case must
exit non-zero, print no traceback, and name the file (and the line, where there is one).

Property-based tests then throw arbitrary text at `stance data check`: it must always answer
either "ok" or ``file:line: ...`` problems, never crash. (Arbitrary input to ``stance.predict``
is covered by tests/test_predict_properties.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import click
import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stance.cli import app

runner = CliRunner()

# A first line valid for every schema read (plain labelled file, corpus, extraction gold units),
# so each error must come from the broken line itself.
GOOD_ROW = {
    "id": "q1", "text": "We back the plan.", "label": "support", "source": "a.txt", "speaker": "Dr Ann Lee",
    "role": "gp_partner", "reform": "gp_federation", "kind": "direct", "start": 18, "end": 35,
}  # fmt: skip


# --- the broken files -----------------------------------------------------------------------------
# Each maker writes one kind of broken file at `path` (or nothing: "missing") and returns
# (path actually used, the line number the error must name, or None).


def _empty(path: Path) -> tuple[Path, int | None]:
    path.write_bytes(b"")
    return path, None


def _not_utf8(path: Path) -> tuple[Path, int | None]:
    # A valid first line, then Latin-1 "café" (0xE9 is not UTF-8 on its own).
    bad = json.dumps({"text": "Caf\u00e9 culture", "label": "support"}, ensure_ascii=False)
    path.write_bytes((json.dumps(GOOD_ROW) + "\n").encode() + bad.encode("latin-1") + b"\n")
    return path, 2


def _binary(path: Path) -> tuple[Path, int | None]:
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\xff\xfe")
    return path, 1


def _truncated_json(path: Path) -> tuple[Path, int | None]:
    path.write_text(json.dumps(GOOD_ROW) + '\n{"text": "We would back it only if', encoding="utf-8")
    return path, 2


def _csv_missing_column(path: Path) -> tuple[Path, int | None]:
    path = path.with_suffix(".csv")
    path.write_text("quote,label\nWe back the new care models.,support\n", encoding="utf-8")
    return path, 2


def _csv_header_only(path: Path) -> tuple[Path, int | None]:
    path = path.with_suffix(".csv")
    path.write_text("text,label\n\n", encoding="utf-8")
    return path, None


def _csv_stray_quote(path: Path) -> tuple[Path, int | None]:
    # An unclosed quote on line 3 once swallowed line 4 into its text without a word.
    path = path.with_suffix(".csv")
    header, values = ",".join(GOOD_ROW), ",".join(str(v) for v in GOOD_ROW.values())
    rest = values.removeprefix("q1,We back the plan.")
    path.write_text(
        f'{header}\n{values}\nq2,"We oppose it{rest}\nq3,"Only if funded."{rest}\n',
        encoding="utf-8",
    )
    return path, 3


def _wrong_suffix(path: Path) -> tuple[Path, int | None]:
    path = path.with_suffix(".txt")
    path.write_text(json.dumps(GOOD_ROW) + "\n", encoding="utf-8")
    return path, None


def _missing(path: Path) -> tuple[Path, int | None]:
    return path.with_name("does-not-exist.jsonl"), None


def _directory(path: Path) -> tuple[Path, int | None]:
    path = path.with_suffix("")
    path.mkdir()
    return path, None


DATA_FAULTS: dict[str, Callable[[Path], tuple[Path, int | None]]] = {
    "empty": _empty,
    "not-utf8": _not_utf8,
    "binary": _binary,
    "truncated-json": _truncated_json,
    "csv-missing-column": _csv_missing_column,
    "csv-header-only": _csv_header_only,
    "csv-stray-quote": _csv_stray_quote,
    "wrong-suffix": _wrong_suffix,
    "missing": _missing,
    "directory": _directory,
}


def _yaml_fault(body: bytes, line: int | None = None):
    def make(path: Path) -> tuple[Path, int | None]:
        path.write_bytes(body)
        return path, line

    return make


CONFIG_FAULTS: dict[str, Callable[[Path], tuple[Path, int | None]]] = {
    "empty": _empty,
    "not-utf8": _yaml_fault(b"kind: baseline\n# caf\xe9\n"),
    "binary": _yaml_fault(b"\x00\x01\x02\xff\xfe binary"),
    "invalid-yaml": _yaml_fault(b"kind: baseline\nseed: [1, 2\n", 3),
    "wrong-type": _yaml_fault(b"kind: baseline\nseed: forty-two\n"),
    "unknown-key": _yaml_fault(b"kind: baseline\nsede: 42\n"),
    "missing": _missing,
    "directory": _directory,
}


def _assert_no_crash(result) -> None:
    """No exception escaped the command. (CliRunner catches a crash and prints no traceback, so
    checking the output alone would miss it: the exception it recorded is what tells.)"""
    exc = result.exception
    # typer 0.29 raises its own Exit (not click's) for a handled error: that is not a crash.
    if exc is not None and not isinstance(exc, (SystemExit, click.exceptions.Exit, typer.Exit)):
        import traceback

        raise AssertionError(
            "the command crashed:\n" + "".join(traceback.format_exception(exc)) + result.output
        )
    assert "Traceback" not in result.output, result.output


def _assert_clean_error(result, path: Path, line: int | None) -> None:
    """Non-zero exit, no traceback, the file (and line) named, one `error:` line at most."""
    output = result.output
    assert result.exit_code != 0, output
    _assert_no_crash(result)
    where = f"{path}:{line}" if line is not None else str(path)
    assert where in output, f"expected {where!r} in:\n{output}"
    assert len([ln for ln in output.splitlines() if ln.startswith("error:")]) <= 1, output


def _config(source: Path, tmp_path: Path, **data: str) -> Path:
    """A copy of a fixture config with some `data:` paths replaced."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["data"].update({k: str(v) for k, v in data.items()})
    raw["output_dir"] = str(tmp_path / "model")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# --- data files: every command that reads a labelled or unlabelled JSONL/CSV file ----------------

# command -> fixtures it needs, and how to build argv from (fixtures, bad path, tmp_path).
DATA_COMMANDS = {
    "data-check": lambda fx, p, tmp: ["data", "check", str(p)],
    "train": lambda fx, p, tmp: ["train", "--config", str(_config(fx["baseline_config"], tmp, train=p))],
    "train-validation": lambda fx, p, tmp: [
        "train", "--config", str(_config(fx["baseline_config"], tmp, validation=p)),
    ],
    "evaluate": lambda fx, p, tmp: ["evaluate", "--model", str(fx["baseline_model"]), "--data", str(p)],
    "compare": lambda fx, p, tmp: [
        "compare", str(fx["baseline_model"]), str(fx["baseline_model"]), "--data", str(p),
    ],
    "predict": lambda fx, p, tmp: [
        "predict", "--model", str(fx["baseline_model"]), "--input", str(p),
        "--output", str(tmp / ("out" + (p.suffix or ".jsonl"))), "--label-column", "predicted",
    ],
    "cv": lambda fx, p, tmp: ["cv", "--config", str(_config(fx["baseline_config"], tmp, corpus=p)), "-q"],
    "extract-gold": lambda fx, p, tmp: ["extract", "--evaluate", "--gold", str(p), str(fx["articles"])],
}  # fmt: skip


@pytest.fixture
def fixtures(request, tmp_path) -> dict:
    """Lazily resolved fixtures, so a data-check case never trains a model."""

    class Lazy(dict):
        def __missing__(self, name):
            if name == "articles":
                folder = tmp_path / "articles"
                folder.mkdir(exist_ok=True)
                (folder / "a.txt").write_text(
                    "Dr Ann Lee said: 'We back the plan.'\n", encoding="utf-8"
                )
                value = folder
            else:
                value = request.getfixturevalue(name)
            self[name] = value
            return value

    return Lazy()


@pytest.mark.parametrize("fault", list(DATA_FAULTS))
@pytest.mark.parametrize("command", list(DATA_COMMANDS))
def test_bad_data_file(command, fault, fixtures, tmp_path):
    path, line = DATA_FAULTS[fault](tmp_path / "bad.jsonl")
    result = runner.invoke(app, DATA_COMMANDS[command](fixtures, path, tmp_path))
    _assert_clean_error(result, path, line)
    if fault == "truncated-json":  # json's own wording ends in "at": no "starting at at column"
        assert "malformed JSON (Unterminated string starting at column" in result.output


# --- configs: train and cv ------------------------------------------------------------------------


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
@pytest.mark.parametrize(
    "command", ["train", "cv", "experiment-baseline", "experiment-transformer"]
)
def test_bad_config_file(command, fault, tmp_path, request):
    path, line = CONFIG_FAULTS[fault](tmp_path / "config.yaml")
    if command.startswith("experiment"):
        # The broken config on one side, the valid fixture config on the other.
        good = "transformer" if command.endswith("baseline") else "baseline"
        configs = {good: str(request.getfixturevalue(f"{good}_config")), command[11:]: str(path)}
        argv = [
            "experiment", "--baseline-config", configs["baseline"],
            "--transformer-config", configs["transformer"], "--no-docs",
            "--report-dir", str(tmp_path / "reports"), "--quiet",
        ]  # fmt: skip
    else:
        argv = [command, "--config", str(path)]
    result = runner.invoke(app, argv)
    _assert_clean_error(result, path, line)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"seed": "seven"}, "key 'seed': expected an integer"),
        ({"baseline": {"C_grid": "lots"}}, "key 'baseline.C_grid': expected a list"),
        ({"baseline": {"cv_fold": 2}}, "unknown key 'baseline.cv_fold'"),
        ({"data": {"leakage": "ignore"}}, "key 'data.leakage': expected one of 'error', 'warn'"),
        ({"transformer": {"num_epochs": 1}}, "key 'transformer' does not belong"),
    ],
    ids=["seed-type", "list-type", "nested-unknown-key", "bad-choice", "wrong-section"],
)
def test_config_wrong_type_or_key_in_real_config(baseline_config, tmp_path, edit, expected):
    """The same faults inside an otherwise valid config, for train and cv alike."""
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    for key, value in edit.items():
        raw[key] = (
            {**raw[key], **value}
            if isinstance(value, dict) and isinstance(raw.get(key), dict)
            else value
        )
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    for command in ("train", "cv"):
        result = runner.invoke(app, [command, "--config", str(path)])
        _assert_clean_error(result, path, None)
        assert expected in result.output, result.output


# --- model directories ----------------------------------------------------------------------------


def _model_faults(tmp_path: Path) -> dict[str, Path]:
    file_model = tmp_path / "model-file"
    file_model.write_text("not a directory", encoding="utf-8")
    empty_dir = tmp_path / "empty-model"
    empty_dir.mkdir()
    return {"missing": tmp_path / "no-model", "file": file_model, "no-metadata": empty_dir}


@pytest.mark.parametrize("fault", ["missing", "file", "no-metadata"])
@pytest.mark.parametrize("command", ["evaluate", "compare", "predict", "score", "info", "explain"])
def test_bad_model_dir(command, fault, tmp_path, tiny_splits):
    model = _model_faults(tmp_path)[fault]
    article = tmp_path / "a.txt"
    article.write_text("Dr Ann Lee said: 'We back the plan.'\n", encoding="utf-8")
    argv = {
        "evaluate": ["evaluate", "--model", str(model), "--data", str(tiny_splits["test"])],
        "compare": ["compare", str(model), str(model), "--data", str(tiny_splits["test"])],
        "predict": [
            "predict", "--model", str(model), "--input", str(tiny_splits["test"]),
            "--output", str(tmp_path / "out.jsonl"),
        ],
        "score": ["score", str(article), "--model", str(model)],
        "info": ["info", "--model", str(model)],
        "explain": ["explain", "--model", str(model)],
    }[command]  # fmt: skip
    result = runner.invoke(app, argv)
    _assert_clean_error(result, model, None)


# --- output paths: a directory where a file goes, a file where a folder goes ---------------------

OUTPUT_COMMANDS = {
    "predict": lambda fx, out: [
        "predict", "--model", str(fx["baseline_model"]), "--input", str(fx["quotes"]),
        "--output", str(out),
    ],
    "extract": lambda fx, out: ["extract", str(fx["articles"] / "a.txt"), "--output", str(out)],
    "score": lambda fx, out: [
        "score", str(fx["articles"] / "a.txt"), "--model", str(fx["baseline_model"]), "--output", str(out),
    ],
    "evaluate": lambda fx, out: [
        "evaluate", "--model", str(fx["baseline_model"]), "--data", str(fx["tiny_splits"]["test"]),
        "--report", str(out), "--resamples", "10",
    ],
    "compare": lambda fx, out: [
        "compare", str(fx["baseline_model"]), str(fx["baseline_model"]),
        "--data", str(fx["tiny_splits"]["test"]), "--report", str(out), "--resamples", "10",
    ],
    "cv": lambda fx, out: [
        "cv", "--config", str(fx["baseline_config"]), "--folds", "1", "--resamples", "10", "-q",
        "--report", str(out),
    ],
    "train": lambda fx, out: ["train", "--config", str(fx["baseline_config"]), "--output-dir", str(out)],
    "experiment": lambda fx, out: [
        "experiment", "--baseline-config", str(fx["baseline_config"]),
        "--transformer-config", str(fx["transformer_config"]), "--report-dir", str(out),
        "--no-docs", "--quiet",
    ],
}  # fmt: skip
# Commands whose output is a file; the others write a directory.
FILE_OUTPUTS = {"predict", "extract", "score"}


@pytest.mark.parametrize("fault", ["under-a-file", "wrong-kind"])
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_bad_output_path(command, fault, fixtures, tmp_path):
    """Output under a path that is a file, or a directory given for an output file (a file
    given for an output directory): one error line naming the output, nothing overwritten."""
    fixtures["quotes"] = tmp_path / "quotes.jsonl"
    fixtures["quotes"].write_text(
        json.dumps({"text": "We back the plan."}) + "\n", encoding="utf-8"
    )
    blocker = tmp_path / "blocker.jsonl"
    blocker.write_text("mine\n", encoding="utf-8")
    if fault == "under-a-file":
        out = blocker / ("out.jsonl" if command in FILE_OUTPUTS else "out")
    elif command in FILE_OUTPUTS:
        out = tmp_path / "out.jsonl"  # a directory with an output file's name
        out.mkdir()
    else:
        out = blocker
    result = runner.invoke(app, OUTPUT_COMMANDS[command](fixtures, out))
    _assert_clean_error(result, out, None)
    assert blocker.read_text(encoding="utf-8") == "mine\n"


def test_output_without_permission_is_one_line(tmp_path, monkeypatch):
    """Permission denied while creating the output (simulated: the tests may run as root,
    who may write anywhere) is one error line naming the output."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    article = tmp_path / "a.txt"
    article.write_text("Dr Ann Lee said: 'We back the plan.'\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr("stance.models.artifacts.tempfile.mkstemp", denied)
    result = runner.invoke(app, ["extract", str(article), "--output", str(out)])
    _assert_clean_error(result, out, None)
    assert "no permission to write in" in result.output and not out.exists()


# --- articles: extract and score ------------------------------------------------------------------

ARTICLE_FAULTS = {
    "not-utf8": lambda p: (p.write_bytes("Dr Lee said: 'Caf\u00e9s.'\n".encode("latin-1")), p)[1],
    "binary": lambda p: (p.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00"), p)[1],
    "missing": lambda p: p.with_name("nope.txt"),
    "empty-directory": lambda p: (p.with_suffix("").mkdir(), p.with_suffix(""))[1],
}


@pytest.mark.parametrize("fault", list(ARTICLE_FAULTS))
@pytest.mark.parametrize("command", ["extract", "score"])
def test_bad_article(command, fault, tmp_path, request):
    path = ARTICLE_FAULTS[fault](tmp_path / "article.txt")
    argv = [command, str(path)]
    if command == "score":
        argv += ["--model", str(request.getfixturevalue("baseline_model"))]
    result = runner.invoke(app, argv)
    _assert_clean_error(result, path, None)


@pytest.mark.parametrize("command", ["extract", "score"])
def test_empty_article_is_a_note_not_an_error(command, tmp_path, request):
    """An empty article has no quotes: a note naming it, and the other articles still run."""
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    argv = [command, str(empty)]
    if command == "score":
        argv += ["--model", str(request.getfixturevalue("baseline_model"))]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert f"no quotes found in {empty}" in result.output
    assert "Traceback" not in result.output


# --- property-based: arbitrary text through `stance data check` ------------------------------------

_PROBLEM = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: \S")


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=80),
            st.builds(
                json.dumps,
                st.dictionaries(st.sampled_from(["text", "label", "id"]), st.text(max_size=20)),
            ),
            st.just(json.dumps(GOOD_ROW)),
        ),
        max_size=6,
    )
)
def test_data_check_never_crashes_on_arbitrary_text(tmp_path, lines):
    path = tmp_path / "arbitrary.jsonl"
    # surrogatepass: hypothesis may produce lone surrogates; they land as invalid UTF-8 bytes.
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    result = runner.invoke(app, ["data", "check", "--minimal", str(path)])
    _assert_no_crash(result)
    if result.exit_code == 0:
        assert result.output.startswith("ok:")
        return
    assert result.exit_code == 1
    *problems, summary = result.output.strip().splitlines()
    assert summary.endswith("problem(s) found") and problems
    for problem in problems:
        match = _PROBLEM.match(problem)
        assert match and match["path"] == str(path), problem
        if match["line"] is not None:
            assert 1 <= int(match["line"]) <= path.read_bytes().count(b"\n") + 1


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_data_check_never_crashes_on_arbitrary_bytes(tmp_path, data):
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"bytes{suffix}"
        path.write_bytes(data)
        result = runner.invoke(app, ["data", "check", "--minimal", str(path)])
        _assert_no_crash(result)
        assert result.exit_code in (0, 1)
        if result.exit_code == 1:
            assert str(path) in result.output
