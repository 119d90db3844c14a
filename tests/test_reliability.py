"""Reliability and security: interrupted writes, reproducibility, model integrity, no code
execution from files, and test/training leakage.

Each test here is a row of the table in docs/reliability.md. Tests that already exist
elsewhere are referenced there, not repeated (transformer reproducibility, a flipped byte in a
weight file, a malicious skops file, evaluating on a label the model lacks).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import stance
from stance.cli import app
from stance.config import load_config
from stance.errors import ModelError
from stance.inference.predictor import clear_cache
from stance.models.artifacts import file_sha256, read_metadata, verify_checksums
from stance.models.training import LeakageWarning, prepare_data, train

from .conftest import REPO, write_jsonl

runner = CliRunner()
TEXTS = [
    "Federations have given our practices a real voice.",
    "This reorganisation is a waste of money and will fail.",
    "We would back the vanguard only if the funding is guaranteed.",
]


def _snapshot(directory: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``directory``."""
    return {
        str(p.relative_to(directory)): file_sha256(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _run_script(script: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter (the repo importable, no hub access)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
    )  # fmt: skip


# --- interrupted writes ------------------------------------------------------------------------------

# Trains a baseline into argv[2] (or, with config "-", saves a small directory there without
# training) and SIGKILLs itself just before step argv[3] of the final swap. Steps are the
# filesystem calls on the target or its hidden siblings: the one-call exchange (where the OS
# has it) or os.replace, then shutil.rmtree of the previous model. At step 1 every new file
# is written and fsynced in the temporary directory and nothing has been renamed yet. With
# argv[4] == "fallback" the exchange is made unavailable, as on an OS without it.
_KILL_DURING_SAVE = """
    import os, shutil, signal, sys
    from pathlib import Path
    import stance.models.artifacts as artifacts
    from stance.models.training import train

    config, target, kill_at, mode = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    steps = 0

    def killing(real):
        def wrapper(*args, **kwargs):
            global steps
            names = [Path(p).name for p in args[:2] if isinstance(p, (str, os.PathLike))]
            if any(n == target.name or n.startswith(f".{target.name}.") for n in names):
                steps += 1
                if steps == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapper

    if mode == "fallback":
        artifacts._exchange = lambda a, b: False
    else:
        artifacts._exchange = killing(artifacts._exchange)
    os.replace = killing(os.replace)
    shutil.rmtree = killing(shutil.rmtree)
    if config == "-":
        with artifacts.atomic_directory(target) as tmp:
            (tmp / "weights.bin").write_bytes(b"new weights")
            (tmp / "metadata.json").write_text("{}")
    else:
        train(config, output_dir=target)
    print("completed")
"""


def test_sigkill_during_model_save_keeps_previous_model(baseline_model, baseline_config, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(baseline_model, target)
    before = _snapshot(target)
    proc = _run_script(_KILL_DURING_SAVE, str(baseline_config), str(target), "1", "exchange")
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert _snapshot(target) == before  # same files, same checksums
    verify_checksums(target, read_metadata(target))
    clear_cache()
    assert stance.load(target).predict(TEXTS[0]).label in stance.LABELS
    # Only the hidden temporary directory (and its owner's lock file, which tells the next
    # save that it was abandoned) may sit beside it; nothing else at or near the target.
    others = sorted(p.name for p in tmp_path.iterdir() if p.name != "model")
    assert len(others) == 2 and others[0].startswith(".model.tmp-"), others
    assert others[1] == others[0] + ".lock"


@pytest.mark.parametrize("what", ["folder-of-notes", "file"])
def test_train_never_replaces_something_that_is_not_a_model(baseline_config, tmp_path, what):
    """Saving swaps a whole directory in and deletes what was there: a mistyped --output-dir
    must be refused before training, leaving the user's files alone."""
    target = tmp_path / "thesis"
    if what == "file":
        target.write_text("draft", encoding="utf-8")
    else:
        target.mkdir()
        (target / "chapter1.md").write_text("draft", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["train", "--config", str(baseline_config), "-o", str(target)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {target}: output directory " in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, nothing lost
    # An empty directory, or an existing model, is fine to (re)place.
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):
        assert (
            runner.invoke(
                app, ["train", "--config", str(baseline_config), "-o", str(empty), "-q"]
            ).exit_code
            == 0
        )


def test_experiment_never_replaces_a_docs_dir_that_is_not_a_report(
    baseline_config, transformer_config, tmp_path
):
    """`stance experiment` copies its report over --docs-dir, replacing it whole: a folder of
    other files is refused before any training."""
    docs = tmp_path / "my-docs"
    docs.mkdir()
    (docs / "notes.md").write_text("mine", encoding="utf-8")
    argv = [
        "experiment", "--baseline-config", str(baseline_config),
        "--transformer-config", str(transformer_config), "--docs", "--docs-dir", str(docs),
        "--report-dir", str(tmp_path / "reports"), "--quiet",
    ]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {docs}: --docs-dir holds other files" in result.output
    assert [p.name for p in docs.iterdir()] == ["notes.md"]
    assert not (tmp_path / "reports").exists()  # failed before training and reporting


_OLD = {"weights.bin": b"old weights"}
_NEW = {"weights.bin": b"new weights", "metadata.json": b"{}"}


def _files(directory: Path) -> dict[str, bytes] | None:
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.is_dir() else None


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_sigkill_at_each_step_of_the_swap_leaves_a_whole_model(tmp_path, kill_at):
    """With the atomic exchange (Linux), whichever step the process dies at, the target holds
    the old model or the new one, complete: never nothing, never a mix."""
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_bytes(_OLD["weights.bin"])
    proc = _run_script(_KILL_DURING_SAVE, "-", str(target), str(kill_at), "exchange")
    expected = {1: _OLD, 2: _NEW, 3: _NEW}[kill_at]  # 2: swapped, old copy not yet deleted
    assert proc.returncode == (0 if kill_at == 3 else -signal.SIGKILL), proc.stderr
    assert _files(target) == expected


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_sigkill_during_fallback_swap_keeps_previous_model_recoverable(tmp_path, kill_at):
    """Without the exchange (another OS, an unsupported filesystem) the swap is two renames.
    A kill between them (step 2) leaves no target; the previous model then sits, complete, in
    the hidden ``.model.old-*`` directory. Any other step leaves a whole old or new model."""
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_bytes(_OLD["weights.bin"])
    proc = _run_script(_KILL_DURING_SAVE, "-", str(target), str(kill_at), "fallback")
    assert proc.returncode == (0 if kill_at == 4 else -signal.SIGKILL), proc.stderr
    if kill_at == 2:
        assert not target.exists()
        (old,) = tmp_path.glob(".model.old-*")
        assert _files(old) == _OLD
    else:
        assert _files(target) == (_OLD if kill_at == 1 else _NEW)


# Predicts a file into argv[3] through `stance predict` but SIGKILLs itself once three output
# rows have been written (the temporary output holds a partial file by then). Every JSONL row
# goes through stance.data.io.json_line, so that is where the kill is planted.
_KILL_DURING_PREDICT = """
    import os, signal, sys
    import stance.data.io as io

    model, source, output = sys.argv[1:4]
    real, rows = io.json_line, [0]

    def line_then_die(record):
        if rows[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        rows[0] += 1
        return real(record)

    io.json_line = line_then_die
    from stance.cli import app
    app(["predict", "--model", model, "--input", source, "--output", output], standalone_mode=False)
"""


def test_sigkill_while_predict_writes_output_keeps_previous_output(
    baseline_model, tiny_splits, tmp_path
):
    quotes = write_jsonl(
        tmp_path / "quotes.jsonl", [{"id": i, "text": t} for i, t in enumerate(TEXTS * 3)]
    )
    output = tmp_path / "predictions.jsonl"
    output.write_text('{"previous": "run"}\n', encoding="utf-8")
    before = output.read_bytes()
    proc = _run_script(_KILL_DURING_PREDICT, str(baseline_model), str(quotes), str(output))
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert output.read_bytes() == before
    # No partial output under the real name; at most a hidden temporary file beside it.
    others = sorted(p.name for p in tmp_path.iterdir() if p.name not in (output.name, quotes.name))
    assert all(name.startswith(f".{output.name}.tmp-") for name in others), others


# --- reproducibility --------------------------------------------------------------------------------

# Fields of metadata.json that legitimately differ between two identical runs. The checksum
# of model.skops differs too: skops names the arrays inside its zip by Python object ids and
# the zip stamps the write time, so the bytes differ while the content is identical (compared
# below array by array).
_RUN_SPECIFIC = {"created_utc", "train_seconds", "checksums"}


def _fitted_arrays(model_dir: Path) -> dict[str, object]:
    pipeline = stance.load(model_dir).pipeline
    arrays: dict[str, object] = {}
    for name, vectorizer in pipeline.named_steps["features"].transformer_list:
        arrays[f"{name}.vocabulary_"] = vectorizer.vocabulary_
        arrays[f"{name}.idf_"] = vectorizer.idf_.tolist()
    clf = pipeline.named_steps["clf"]
    arrays.update(
        coef_=clf.coef_.tolist(), intercept_=clf.intercept_.tolist(), classes_=clf.classes_.tolist()
    )
    return arrays


def test_baseline_same_config_and_seed_is_reproducible(baseline_config, tmp_path):
    a = train(baseline_config, output_dir=tmp_path / "a").model_dir
    b = train(baseline_config, output_dir=tmp_path / "b").model_dir
    clear_cache()
    np.testing.assert_array_equal(
        stance.load(a).predict_proba(TEXTS), stance.load(b).predict_proba(TEXTS)
    )
    assert _fitted_arrays(a) == _fitted_arrays(b)  # exactly equal, not approximately
    meta_a, meta_b = read_metadata(a), read_metadata(b)
    for meta in (meta_a, meta_b):
        for key in _RUN_SPECIFIC:
            meta.pop(key)
        meta["config"].pop("output_dir")
    assert meta_a == meta_b  # config, seed, data hashes, chosen C, CV scores, metrics, versions


@pytest.mark.parametrize("kind", ["baseline", "transformer"])
def test_info_prints_config_seed_data_hashes_and_versions(kind, request, tiny_splits):
    model = request.getfixturevalue(f"{kind}_model")
    config = request.getfixturevalue(f"{kind}_config")
    result = runner.invoke(app, ["info", "--model", str(model)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["kind"] == kind and info["seed"] == 7
    assert info["config"] == load_config(config).to_dict()
    assert info["data_hashes"] == {
        str(tiny_splits[s]): file_sha256(tiny_splits[s]) for s in ("train", "validation", "test")
    }
    for library in ("python", "stance", "numpy", "scikit-learn" if kind == "baseline" else "torch"):
        assert info["versions"][library], library
    assert info["stance_version"] == stance.__version__
    assert set(info["checksums"]) and info["labels"] == list(stance.LABELS)


# --- model integrity --------------------------------------------------------------------------------


def _damage(model_dir: Path, how: str) -> Path:
    """Damage the first weight file recorded in metadata.json; return its path."""
    name = next(iter(read_metadata(model_dir)["checksums"]))
    path = model_dir / name
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()
    return path


@pytest.mark.parametrize("how", ["truncated", "missing"])
@pytest.mark.parametrize("kind", ["baseline", "transformer"])
def test_damaged_weight_file_is_refused_naming_it(kind, how, request, tiny_splits, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(request.getfixturevalue(f"{kind}_model"), model)
    path = _damage(model, how)
    clear_cache()
    with pytest.raises(ModelError, match=re.escape(str(path))):
        stance.load(model)
    result = runner.invoke(
        app, ["evaluate", "--model", str(model), "--data", str(tiny_splits["test"])]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    expected = "checksum mismatch" if how == "truncated" else "missing"
    assert f"error: {path}" in result.output and expected in result.output, result.output


@pytest.mark.parametrize("kind", ["baseline", "transformer"])
def test_model_from_incompatible_version_is_refused(kind, request, tiny_splits, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(request.getfixturevalue(f"{kind}_model"), model)
    meta_path = model / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["stance_version"] = "99.0.0"  # metadata.json itself is not checksummed
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    clear_cache()
    with pytest.raises(ModelError, match=r"made by stance 99\.0\.0, which is incompatible"):
        stance.load(model)
    result = runner.invoke(
        app, ["evaluate", "--model", str(model), "--data", str(tiny_splits["test"])]
    )
    assert result.exit_code == 1
    assert (
        f"error: {meta_path}: made by stance 99.0.0" in result.output and "retrain" in result.output
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("labels", 5, "'labels' must be a list of distinct label names"),
        (
            "labels",
            ["support", "support", "oppose"],
            "'labels' must be a list of distinct label names",
        ),
        (
            "checksums",
            ["model.skops"],
            "'checksums' must map file names inside the model directory",
        ),
        ("checksums", {"../../outside.bin": "0" * 64}, "'checksums' must map file names inside"),
        ("checksums", {"/etc/hostname": "0" * 64}, "'checksums' must map file names inside"),
    ],
    ids=[
        "labels-not-a-list",
        "labels-repeated",
        "checksums-not-a-map",
        "path-escapes",
        "absolute-path",
    ],
)
def test_damaged_metadata_is_refused_naming_it(
    baseline_model, tiny_splits, tmp_path, key, value, expected
):
    """metadata.json is not checksummed: a hand-edited or damaged one is a clear error, never
    a TypeError inside a loader, and never makes the loader read files outside the model."""
    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    meta_path = model / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta[key] = value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    for argv in (
        ["evaluate", "--model", str(model), "--data", str(tiny_splits["test"])],
        ["info", "--model", str(model)],
        ["explain", "--model", str(model)],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 1 and result.exception is not None, result.output
        assert "Traceback" not in result.output and not isinstance(
            result.exception, (TypeError, AttributeError)
        )
        assert f"error: {meta_path}: {expected}" in result.output, result.output


@pytest.fixture(scope="module")
def two_label_model(tiny_records, baseline_config, tmp_path_factory) -> Path:
    """A baseline that knows only support and oppose (no conditional)."""
    root = tmp_path_factory.mktemp("two_labels")
    rows = [r for r in tiny_records if r["label"] != "conditional"]
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["data"] = {
        "train": str(
            write_jsonl(root / "train.jsonl", [r for r in rows if r["source"] != "c.txt"])
        ),
        "validation": str(
            write_jsonl(root / "validation.jsonl", [r for r in rows if r["source"] == "c.txt"])
        ),
        "test": None,
        "labels": ["support", "oppose"],
    }
    raw["output_dir"] = str(root / "model")
    path = root / "two.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return train(path).model_dir


def test_data_label_the_model_lacks_is_a_clear_error(two_label_model, tiny_splits):
    result = runner.invoke(
        app, ["evaluate", "--model", str(two_label_model), "--data", str(tiny_splits["test"])]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {tiny_splits['test']}:" in result.output
    assert "conditional" in result.output and "support, oppose" in result.output


def test_models_with_different_label_sets_are_not_compared(
    two_label_model, baseline_model, tiny_splits
):
    result = runner.invoke(
        app,
        ["compare", str(baseline_model), str(two_label_model), "--data", str(tiny_splits["test"])],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "different label sets" in result.output and str(two_label_model) in result.output


# --- no code execution from files -------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


# Calls that run code stored in a file (or in data). Matched on the last two dotted parts, so
# `pickle.load`, `import pickle as p; p.load`... are caught by module alias below too.
_FORBIDDEN_CALLS = {
    "pickle.load", "pickle.loads", "cPickle.load", "dill.load", "dill.loads", "joblib.load",
    "marshal.load", "marshal.loads", "shelve.open", "yaml.unsafe_load", "yaml.full_load",
    "pandas.read_pickle", "pd.read_pickle", "torch.jit.load",
}  # fmt: skip


def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """Every call in ``source`` that could execute code from a file or from data.

    Parses the code (so docstrings and comments that *mention* ``pickle.load`` do not count)
    and flags: the calls in ``_FORBIDDEN_CALLS`` (through import aliases too); ``torch.load``
    without ``weights_only=True``; ``yaml.load`` without a ``SafeLoader``/``CSafeLoader``;
    ``numpy.load`` with ``allow_pickle=True``; any call with ``trust_remote_code=True`` or
    ``trusted=True`` (skops); and the builtins ``eval``, ``exec`` and ``compile``.
    """
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> real module/function
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, rest = name.partition(".")
        real = aliases.get(head, head) + (f".{rest}" if rest else "")
        keywords = {k.arg: k.value for k in node.keywords}
        where = f"{filename}:{node.lineno}: {name}(...)"
        short = ".".join(real.split(".")[-2:])
        if real in _FORBIDDEN_CALLS or short in _FORBIDDEN_CALLS:
            found.append(where)
        elif short == "torch.load" and not _is_true(keywords.get("weights_only")):
            found.append(where + " without weights_only=True")
        elif short == "yaml.load" and "SafeLoader" not in ast.unparse(keywords.get("Loader", node)):
            found.append(where + " without SafeLoader")
        elif short in ("numpy.load", "np.load") and _is_true(keywords.get("allow_pickle")):
            found.append(where + " with allow_pickle=True")
        elif real in (
            "eval",
            "exec",
            "compile",
            "builtins.eval",
            "builtins.exec",
            "builtins.compile",
        ):
            found.append(where)
        for flag in ("trust_remote_code", "trusted"):
            if _is_true(keywords.get(flag)):
                found.append(f"{filename}:{node.lineno}: {name}(..., {flag}=True)")
    return found


def test_scanner_catches_each_unsafe_pattern():
    """The scanner itself must not be vacuous: every pattern it should catch, it catches."""
    bad = """
        import pickle, joblib, torch, yaml
        import pickle as pk
        from joblib import load as jl
        import numpy as np
        import skops.io as sio
        from transformers import AutoModel
        pickle.load(f); pickle.loads(b); pk.load(f); joblib.load(p); jl(p)
        torch.load(p); torch.load(p, weights_only=False)
        yaml.load(s); yaml.unsafe_load(s)
        np.load(p, allow_pickle=True)
        AutoModel.from_pretrained(n, trust_remote_code=True)
        sio.load(p, trusted=True)
        eval(text); exec(code)
    """
    assert len(unsafe_calls(textwrap.dedent(bad))) == 14
    good = """
        import torch, yaml, numpy as np
        torch.load(p, weights_only=True)
        yaml.safe_load(s); yaml.load(s, Loader=yaml.SafeLoader)
        np.load(p)
        model.eval()  # a method, not the builtin
        '''a docstring saying never to call pickle.load or eval()'''
    """
    assert unsafe_calls(textwrap.dedent(good)) == []


def test_package_never_executes_code_from_files():
    files = sorted((REPO / "stance").rglob("*.py"))
    assert len(files) > 10
    found = [
        hit
        for f in files
        for hit in unsafe_calls(f.read_text(encoding="utf-8"), str(f.relative_to(REPO)))
    ]
    assert found == [], "unsafe loading in the package:\n" + "\n".join(found)


# --- leakage between test/validation and training data ---------------------------------------------


def _leaky_config(baseline_config: Path, tiny_splits: dict, tmp_path: Path, split: str, mode: str):
    """The fixture config, with one training text (case and spacing changed) added to ``split``."""
    train_rows = [
        json.loads(line) for line in tiny_splits["train"].read_text(encoding="utf-8").splitlines()
    ]
    leaked = dict(
        train_rows[3], id="leak", text="  " + train_rows[3]["text"].upper().replace(" ", "\t ")
    )
    rows = [
        json.loads(line) for line in tiny_splits[split].read_text(encoding="utf-8").splitlines()
    ]
    leaky = write_jsonl(tmp_path / f"{split}.jsonl", [*rows, leaked])
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["data"].update({split: str(leaky), "leakage": mode})
    raw["output_dir"] = str(tmp_path / "model")
    path = tmp_path / f"leaky-{split}-{mode}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path, leaky, len(rows) + 1


@pytest.mark.parametrize("split", ["test", "validation"])
def test_leakage_error_refuses_to_train(baseline_config, tiny_splits, tmp_path, split):
    config, leaky, line = _leaky_config(baseline_config, tiny_splits, tmp_path, split, "error")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"error: {leaky}:{line}: 1 {split} text(s) also occur in the training data" in result.output
    )
    assert "data.leakage: warn" in result.output
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("split", ["test", "validation"])
def test_leakage_warn_trains_but_warns(baseline_config, tiny_splits, tmp_path, split):
    config, leaky, line = _leaky_config(baseline_config, tiny_splits, tmp_path, split, "warn")
    result = runner.invoke(app, ["train", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "metadata.json").exists()
    # One plain line on stderr, even with --quiet; not Python's warning form naming our source.
    warning = f"warning: {leaky}:{line}: 1 {split} text(s) also occur in the training data"
    assert result.stderr.count(warning) == 1, result.stderr
    assert "LeakageWarning" not in result.output and "Traceback" not in result.output


def _test_text_in_validation(baseline_config, tiny_splits, tmp_path, mode: str):
    """The fixture config, with a test quote (case and spacing changed) added to validation."""
    test_text = json.loads(tiny_splits["test"].read_text(encoding="utf-8").splitlines()[1])["text"]
    rows = [json.loads(line) for line in tiny_splits["validation"].read_text().splitlines()]
    copied = dict(rows[0], id="copied", text=test_text.lower().replace(" ", "  "))
    validation = write_jsonl(tmp_path / "validation.jsonl", [*rows, copied])
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["data"].update({"validation": str(validation), "leakage": mode})
    raw["output_dir"] = str(tmp_path / "model")
    path = tmp_path / f"test-in-validation-{mode}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path, tiny_splits["test"], validation


def test_test_text_in_validation_refuses_to_train(baseline_config, tiny_splits, tmp_path):
    """Validation picks the epoch, calibration and review threshold: a test quote there leaks."""
    config, test, validation = _test_text_in_validation(
        baseline_config, tiny_splits, tmp_path, "error"
    )
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"error: {test}:2: 1 test text(s) also occur in the validation data {validation} "
        in result.output
    )
    assert "data.leakage: warn" in result.output
    assert not (tmp_path / "model").exists()


def test_test_text_in_validation_warns_with_leakage_warn(baseline_config, tiny_splits, tmp_path):
    config, test, validation = _test_text_in_validation(
        baseline_config, tiny_splits, tmp_path, "warn"
    )
    with pytest.warns(LeakageWarning) as caught:
        prepare_data(load_config(config))
    assert [str(w.message).split(" (first")[0] for w in caught] == [
        f"{test}:2: 1 test text(s) also occur in the validation data {validation}"
    ]


def test_leakage_warning_from_the_library_is_a_python_warning(
    baseline_config, tiny_splits, tmp_path
):
    """Library callers get a LeakageWarning they can filter or turn into an error."""
    config, leaky, line = _leaky_config(baseline_config, tiny_splits, tmp_path, "test", "warn")
    with pytest.warns(LeakageWarning, match=f"{re.escape(str(leaky))}:{line}: 1 test text"):
        prepare_data(load_config(config))
