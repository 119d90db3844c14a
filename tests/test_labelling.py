"""The labelling loop: review (label errors), suggest, label (terminal session), merge, curve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import DataError
from tests.conftest import REPO, write_jsonl

LABELS = ("support", "oppose", "conditional")
REFORMS = ["vanguard", "federation", "network", "hub", "care home model", "polyclinic",
           "neighbourhood team", "super-partnership", "integrated care system", "MCP"]  # fmt: skip
TEMPLATES = {
    "support": ["The {r} works brilliantly and we fully back it.",
                "Our patients love the {r}; roll it out everywhere."],
    "oppose": ["The {r} is a costly disaster and we reject it outright.",
               "Scrap the {r}, it wrecks general practice."],
    "conditional": ["We would back the {r} only if the funding is guaranteed.",
                    "The {r} can work provided GPs keep control of the budget."],
}  # fmt: skip


def _articles() -> list[dict]:
    """60 quotes: ten 'articles' of six (two per label), clear wording."""
    rows = []
    for a, reform in enumerate(REFORMS):
        for label, texts in TEMPLATES.items():
            for k, t in enumerate(texts):
                rows.append({
                    "id": f"a{a}-{label}-{k}", "text": t.format(r=reform), "label": label,
                    "source": f"art{a}.txt", "speaker": None, "role": "other", "reform": "pcn",
                })  # fmt: skip
    return rows


def _config(tmp_path: Path, splits: dict, C: float = 1.0) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"kind: baseline\nseed: 3\noutput_dir: {tmp_path / 'model'}\n"
        f"data:\n  train: {splits['train']}\n  validation: {splits['validation']}\n"
        f"  test: {splits['test']}\n  corpus: {splits['corpus']}\n"
        f"baseline:\n  C_grid: [{C}]\n",
        encoding="utf-8",
    )
    return path


# --- review ----------------------------------------------------------------------------------


def test_planted_label_error_is_found(tmp_path, tiny_splits):
    from stance.labelling.review import find_label_errors

    rows = _articles()
    planted = rows[9]  # "Scrap the federation, it wrecks general practice." (oppose)
    assert planted["label"] == "oppose"
    rows[9] = {**planted, "label": "support"}
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    config = _config(tmp_path, {**tiny_splits, "corpus": corpus}, C=10.0)
    result = find_label_errors(config, folds=5)
    assert result["n"] == 60 and result["folds"] == 5 and result["n_groups"] == 10
    top = result["issues"][0]
    assert (top["id"], top["label"], top["suggested"]) == (planted["id"], "support", "oppose")
    # The score is the out-of-fold probability of the given label: the planted one is lowest.
    assert top["score"] == min(r["score"] for r in result["issues"])
    assert len(result["issues"]) <= 3  # the clean statements are not flagged wholesale


def test_review_groups_keep_articles_and_pairs_whole():
    from stance.labelling.folds import review_groups

    records = [{"source": "a.txt"}, {"source": "a.txt"}, {"source": "authored"},
               {"source": "authored"}, {"source": "authored", "pair_id": "p1"},
               {"source": "authored", "pair_id": "p1"}, {}]  # fmt: skip
    g = review_groups(records)
    assert g[0] == g[1] and g[2] != g[3] and g[4] == g[5] and len(set(g)) == 5


def test_review_cli_writes_jsonl(tmp_path, tiny_splits):
    rows = _articles()
    rows[0] = {**rows[0], "label": "oppose"}
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    config = _config(tmp_path, {**tiny_splits, "corpus": corpus}, C=10.0)
    out = tmp_path / "issues.jsonl"
    res = CliRunner().invoke(app, ["review", "--config", str(config), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    flagged = [json.loads(line) for line in out.read_text().splitlines()]
    assert flagged[0]["id"] == rows[0]["id"] and flagged[0]["rank"] == 1
    assert rows[0]["id"] in res.output


# --- suggest -----------------------------------------------------------------------------------


def test_uncertainty_matches_scipy_and_numpy():
    from scipy.stats import entropy

    from stance.labelling.suggest import uncertainty

    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert np.allclose(uncertainty(p, "entropy"), entropy(p, axis=1) / np.log(3), atol=1e-9)
    top2 = -np.sort(-p, axis=1)[:, :2]
    assert np.allclose(uncertainty(p, "margin"), 1 - (top2[:, 0] - top2[:, 1]))
    with pytest.raises(ValueError, match="margin, entropy"):
        uncertainty(p, "random")


def test_suggestion_batch_is_diverse(tmp_path, baseline_model, tiny_records):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    from stance.labelling.suggest import suggest

    names = ["Patel", "Jones", "Smith", "Brown", "Khan", "Evans", "Wood", "Green"]
    copies = [f"Dr {n} said the hubs could work if funding follows patients into the community."
              for n in names]  # fmt: skip
    distinct = ["Scrap this reorganisation now.", "Federations gave us a real voice.",
                "Trusts running surgeries will end continuity.", "We back integrated teams.",
                "Only with more staff will networks succeed."]  # fmt: skip
    already = tiny_records[0]["text"]
    recut = "Asked about it, she said: " + tiny_records[1]["text"]
    pool = [{"text": t, "source": "new.txt"} for t in [*copies, *distinct, already, recut]]
    path = write_jsonl(tmp_path / "pool.jsonl", pool)
    labelled = tmp_path / "corpus.jsonl"
    write_jsonl(labelled, tiny_records)
    batch = suggest(path, n=5, model=baseline_model, pool_factor=10, exclude=[labelled])
    texts = [it["text"] for it in batch["items"]]
    assert len(texts) == 5 and already not in texts and recut not in texts
    assert batch["n_excluded"] == 2
    # Diverse alternatives exist, so at most one near-copy of the hub quote is picked.
    assert sum(t in copies for t in texts) <= 1
    sims = cosine_similarity(TfidfVectorizer().fit_transform(texts))
    assert sims[np.triu_indices(5, 1)].max() < 0.5
    item = batch["items"][0]
    assert set(item["scores"]) == set(LABELS) and abs(sum(item["scores"].values()) - 1) < 1e-3
    assert item["guess"] == max(item["scores"], key=item["scores"].get) and item["rank"] == 1
    unsure = [it["uncertainty"] for it in batch["items"]]
    assert unsure == sorted(unsure, reverse=True)


def test_suggest_never_offers_test_or_dev_quotes(tmp_path, baseline_model, tiny_records,
                                                 monkeypatch):  # fmt: skip
    """Run from a repository root, suggest skips the corpus, the test split and the dev set;
    the last two even when --exclude names other files (their labels could never be merged)."""
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data" / "corpus.jsonl", tiny_records)
    test_text = "Trust-run surgeries have ended the continuity our patients relied on."
    write_jsonl(tmp_path / "data" / "splits" / "test.jsonl",
                [{**tiny_records[0], "id": "x1", "text": test_text}])  # fmt: skip
    (tmp_path / "data" / "dev_positions.jsonl").write_text(_dev(tmp_path).read_text())
    fresh = ["Scrap this reorganisation now.", "We back integrated teams.",
             "Only with more staff will networks succeed."]  # fmt: skip
    pool = [{"text": t, "source": "new.txt"}
            for t in [*fresh, DEV_TEXTS[0], test_text, tiny_records[2]["text"]]]  # fmt: skip
    write_jsonl(tmp_path / "pool.jsonl", pool)
    for extra in ([], ["--exclude", "other.jsonl"]):
        write_jsonl(tmp_path / "other.jsonl", [tiny_records[3]])
        args = ["suggest", "--input", "pool.jsonl", "--n", "6", "--model", str(baseline_model),
                "-o", "batch.jsonl", *extra]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        picked = [
            json.loads(x)["text"] for x in (tmp_path / "batch.jsonl").read_text().splitlines()
        ]
        assert DEV_TEXTS[0] not in picked and test_text not in picked
        assert "data/splits/test.jsonl, data/dev_positions.jsonl" in res.output
    assert sorted(picked) == sorted([*fresh, tiny_records[2]["text"]])  # corpus not excluded
    res = CliRunner().invoke(app, args[:-2])  # default exclude: the corpus as well
    assert "picked 3 of 6 quotes (3 already labelled, held out" in res.output


@pytest.mark.parametrize("order", [[(1, 2, 0.95), (0, 1, 0.9)], [(0, 1, 0.95), (1, 2, 0.9)]])
def test_fresh_keeps_what_no_kept_quote_copies_whatever_pair_is_closest(monkeypatch, order):
    """A chain of near-copies A ~ B ~ C (C not close to A): B goes, A and C stay, whichever pair
    is the most similar. Before, the closest-first walk dropped C too when B ~ C was closest."""
    import stance.data.corpus
    from stance.labelling.suggest import _fresh

    monkeypatch.setattr(stance.data.corpus, "near_duplicates", lambda texts, threshold: order)
    pool = [{"text": t} for t in ("A quote.", "B quote.", "C quote.")]
    assert _fresh(pool, [], 0.8) == [0, 2]


def test_fresh_drops_copies_of_labelled_texts_before_comparing_the_pool(monkeypatch):
    """Labelled texts come first in the indices near_duplicates sees; a pool quote close to one
    is dropped, and a quote close only to that dropped quote is kept."""
    import stance.data.corpus
    from stance.labelling.suggest import _fresh

    pairs = [(0, 1, 0.9), (1, 2, 0.85), (2, 3, 0.85)]  # labelled 0; pool 1, 2, 3
    monkeypatch.setattr(stance.data.corpus, "near_duplicates", lambda texts, threshold: pairs)
    pool = [{"text": t} for t in ("P one.", "P two.", "P three.")]
    assert _fresh(pool, ["Labelled."], 0.8) == [1]  # P one dropped, P two kept, P three its copy


def test_k_center_takes_farthest_point():
    from stance.labelling.suggest import k_center

    v = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.7071, 0.7071]])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert k_center(v, 3) == [0, 2, 3]


# --- label -----------------------------------------------------------------------------------


def _batch(tmp_path: Path, n: int = 5) -> Path:
    rows = [{"id": f"q{i}", "text": f"Quote number {i} about the new hubs.", "speaker": "Dr A",
             "source": "x.txt", "guess": "support", "scores": {"support": 0.5, "oppose": 0.3,
             "conditional": 0.2}} for i in range(n)]  # fmt: skip
    return write_jsonl(tmp_path / "batch.jsonl", rows)


def _answers(path: Path) -> list[tuple[str, str]]:
    return [(r["id"], r["label"]) for r in map(json.loads, path.read_text().splitlines())]


def test_killed_session_resumes_without_loss(tmp_path):
    from stance.data.corpus import check_files

    batch, out = _batch(tmp_path), tmp_path / "labelled.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stance.cli", "label", str(batch), "-o", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    proc.stdin.write(b"1\n2\n")
    proc.stdin.flush()  # stdin stays open: the session waits for the third answer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") == 2):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _answers(out) == [("q0", "support"), ("q1", "oppose")]
    with out.open("a") as fh:  # a write torn by a kill: half a line, no newline
        fh.write('{"id": "q2", "text": "Quo')
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="3\ns\nu\n2\n")
    assert res.exit_code == 0, res.output
    assert "incomplete last line" in res.output and "3/5" in res.output
    assert _answers(out) == [("q0", "support"), ("q1", "oppose"), ("q2", "conditional"),
                             ("q3", "oppose")]  # fmt: skip
    assert "1 to go" in res.output  # q4: stdin ended, so the session stopped with it saved
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="1\n")
    assert res.exit_code == 0 and "(done)" in res.output
    assert [a for a, _ in _answers(out)] == ["q0", "q1", "q2", "q3", "q4"]
    assert check_files([out]) == []
    record = json.loads(out.read_text().splitlines()[0])
    assert record["role"] == "other" and record["source"] == "x.txt" and "scores" not in record


def test_resume_keeps_a_whole_last_record_without_its_newline(tmp_path):
    """Only a torn line is dropped on resume: a whole record that lost its newline (a hand
    edit) stays, and the next answer goes on a line of its own."""
    batch, out = _batch(tmp_path, 3), tmp_path / "labelled.jsonl"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="1\n2\nq\n")
    assert res.exit_code == 0, res.output
    out.write_text(out.read_text().rstrip("\n"))  # an editor that drops the final newline
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="3\n")
    assert res.exit_code == 0, res.output
    shown = " ".join(res.output.split())  # the console wraps long lines
    assert "added the missing newline" in shown and "dropped" not in shown
    assert "3/3 q2" in shown  # resumed after q1, which was kept
    assert _answers(out) == [("q0", "support"), ("q1", "oppose"), ("q2", "conditional")]
    assert out.read_text().endswith("}\n")


def test_undo_and_skip_are_saved(tmp_path):
    batch, out = _batch(tmp_path, 3), tmp_path / "l.jsonl"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="1\nu\n3\ns\nx\nq\n")
    assert res.exit_code == 0, res.output
    assert "undid q0" in res.output and "unknown key 'x'" in res.output
    assert _answers(out) == [("q0", "conditional")]
    assert (tmp_path / "l.jsonl.skipped").read_text() == "q1\n"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="u\nu\n2\n")
    assert "undid q1" in res.output and "undid q0" in res.output
    assert _answers(out) == [("q0", "oppose")] and not (tmp_path / "l.jsonl.skipped").read_text()


def test_undo_after_resume_takes_back_the_last_quote_given_first(tmp_path):
    """Labels and skips live in two files; after a resume undo still goes back in the order
    they were given (label q0, skip q1, label q2: q2, then q1, then q0), not skips first."""
    batch, out = _batch(tmp_path, 4), tmp_path / "l.jsonl"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="1\ns\n2\nq\n")
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="u\nq\n")
    assert "undid q2" in res.output
    assert _answers(out) == [("q0", "support")]
    assert (tmp_path / "l.jsonl.skipped").read_text() == "q1\n"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="u\nu\nq\n")
    assert res.output.index("undid q1") < res.output.index("undid q0")
    assert _answers(out) == [] and not (tmp_path / "l.jsonl.skipped").read_text()


def test_context_shows_the_article_around_the_quote(tmp_path):
    from stance.labelling.annotate import context

    article = tmp_path / "a.txt"
    article.write_text("Before words here. The quote itself. After words there.", encoding="utf-8")
    item = {"text": "The quote itself.", "source": "a.txt", "start": 19, "end": 36}
    assert context(item, tmp_path) == ("Before words here.", "After words there.")
    assert context({**item, "start": 0}, tmp_path) is None  # offsets of another version


# --- merge -----------------------------------------------------------------------------------


def _new(tmp_path: Path, rows: list[dict]) -> Path:
    base = {"source": "new.txt", "speaker": None, "role": "other", "reform": "pcn"}
    return write_jsonl(tmp_path / "new.jsonl", [{**base, **r} for r in rows])


DEV_TEXTS = ["Shifting care out of big hospitals and into local communities is the right call.",
             "Moving every surgery into a polyclinic would wreck continuity of care for patients."]  # fmt: skip


def _dev(tmp_path: Path) -> Path:
    """A two-quote development set, shaped like data/dev_positions.jsonl."""
    base = {
        "source": "dev_positions",
        "speaker": "X",
        "role": "other",
        "reform": "polyclinic",
        "organisation": "Y",
        "basis": "Z",
    }
    rows = [{"id": "dev-1", "text": DEV_TEXTS[0], "label": "support", **base},
            {"id": "dev-2", "text": DEV_TEXTS[1], "label": "oppose", **base}]  # fmt: skip
    return write_jsonl(tmp_path / "dev.jsonl", rows)


def test_merge_refuses_duplicate_and_leaked_test_text(tmp_path, tiny_splits):
    test_text = json.loads(Path(tiny_splits["test"]).read_text().splitlines()[0])["text"]
    train_text = json.loads(Path(tiny_splits["train"]).read_text().splitlines()[0])["text"]
    new = _new(tmp_path, [
        {"id": "n1", "text": "A fresh quote nobody has labelled yet.", "label": "support"},
        {"id": "n2", "text": train_text, "label": "support"},
        {"id": "n3", "text": test_text.upper(), "label": "oppose"},
    ])  # fmt: skip
    out = tmp_path / "merged.jsonl"
    args = ["data", "merge", str(new), "--into", str(tiny_splits["corpus"]), "-o", str(out),
            "--test", str(tiny_splits["test"]), "--dev", str(_dev(tmp_path))]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and not out.exists()
    assert f"{new}:2: in more than one split" in res.output
    assert f"{new}:3: leak: same text as the test split" in res.output
    assert "nothing merged" in res.output


def test_merge_refuses_near_duplicate_leak_and_test_article(tmp_path, tiny_splits):
    from stance.labelling.merge import merge_problems

    test_text = json.loads(Path(tiny_splits["test"]).read_text().splitlines()[0])["text"]
    train_text = json.loads(Path(tiny_splits["train"]).read_text().splitlines()[0])["text"]
    new = _new(tmp_path, [
        {"id": "n1", "text": test_text.rstrip(".") + " today.", "label": "oppose"},
        {"id": "n2", "text": "Something new.", "label": "oppose", "source": "c.txt"},
        {"id": "n3", "text": "Speaking at a seminar on Monday, the director said: " + train_text,
         "label": "support"},
    ])  # fmt: skip
    problems = [str(p) for p in merge_problems(tiny_splits["corpus"], [new],
                test=tiny_splits["test"], test_sources=("c.txt",), dev=None)]  # fmt: skip
    assert any(":1: leak: near-duplicate" in p for p in problems)
    assert any(":2: leak: quote from held-out test article 'c.txt'" in p for p in problems)
    assert any(":3: re-cut of " in p for p in problems)  # cosine misses it; containment does not


def test_merge_adds_clean_records(tmp_path, tiny_splits):
    from stance.data.corpus import check_files

    new = _new(tmp_path, [{"id": "n1", "text": "A fresh quote nobody has labelled yet.",
                           "label": "support"}])  # fmt: skip
    out = tmp_path / "merged.jsonl"
    res = CliRunner().invoke(app, ["data", "merge", str(new), "--into", str(tiny_splits["corpus"]),
                                   "-o", str(out), "--test", str(tiny_splits["test"]),
                                   "--dev", str(_dev(tmp_path))])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 19 and check_files([out]) == []


def test_label_data_check_and_merge_follow_a_configs_label_set(tmp_path, tiny_splits):
    """A config with its own labels (data.labels) is labelled, checked and merged with them:
    key 2 answers the config's second label, and a default label is then unknown."""
    config = tmp_path / "cfg.yaml"
    config.write_text(_config(tmp_path, tiny_splits).read_text().replace(
        "data:\n", "data:\n  labels: [pro, contra]\n"), encoding="utf-8")  # fmt: skip
    batch, out = _batch(tmp_path, 2), tmp_path / "l.jsonl"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out), "-c", str(config)],
                             input="2\n3\n1\n")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "[1] pro  [2] contra  [s]kip" in res.output and "unknown key '3'" in res.output
    assert _answers(out) == [("q0", "contra"), ("q1", "pro")]
    assert CliRunner().invoke(app, ["data", "check", str(out), "-c", str(config)]).exit_code == 0
    res = CliRunner().invoke(app, ["data", "check", str(out)])
    assert (
        res.exit_code == 1 and f"{out}:1: unknown label 'contra'; allowed: support," in res.output
    )
    merge = ["data", "merge", str(out), "--into", str(tiny_splits["corpus"]), "-o",
             str(tmp_path / "m.jsonl"), "--test", str(tiny_splits["test"]), "--dev", str(_dev(tmp_path))]  # fmt: skip
    assert "unknown label 'contra'" in CliRunner().invoke(app, merge).output
    tiny = write_jsonl(tmp_path / "pro.jsonl", [{  # the corpus uses the config's labels too
        "id": "c1", "text": "An older quote, about something else.", "label": "pro",
        "source": "y.txt", "speaker": "Dr B", "role": "other", "reform": "pcn"}])  # fmt: skip
    res = CliRunner().invoke(app, [*merge[:4], str(tiny), *merge[5:], "-c", str(config)])
    assert res.exit_code == 0, res.output


def test_roles_and_reforms_come_from_the_guidelines_vocabulary(tmp_path):
    """A role or reform outside data/GUIDELINES.md's lists is a problem naming the line and
    the allowed values; `stance label` refuses such a default before any quote is shown."""
    from stance.data.corpus import check_files

    good = {"id": "a", "text": "Hubs work.", "label": "support", "source": "x.txt",
            "speaker": "Dr A", "role": "gp_partner", "reform": "pcn"}  # fmt: skip
    path = write_jsonl(tmp_path / "c.jsonl", [good, {**good, "id": "b", "text": "No.",
                       "role": "GP", "reform": "networks"}])  # fmt: skip
    messages = [str(p) for p in check_files([path])]
    assert messages[0].startswith(
        f"{path}:2: unknown role 'GP'; allowed (data/GUIDELINES.md): gp_partner, "
    )
    assert messages[1].startswith(f"{path}:2: unknown reform 'networks'; allowed")
    assert len(messages) == 2 and check_files([path], fields=("text", "label")) == []
    out = tmp_path / "l.jsonl"
    res = CliRunner().invoke(app, ["label", str(_batch(tmp_path)), "-o", str(out), "--role", "GP"])
    assert res.exit_code == 2 and "expected one of gp_partner" in res.output
    assert not out.exists()
    rows = [{"id": "q0", "text": "Hubs are fine.", "reform": "pcn"},
            {"id": "q1", "text": "Hubs are not.", "reform": "hubs"}]  # fmt: skip
    batch = write_jsonl(tmp_path / "carried.jsonl", rows)
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(out)], input="1\n")
    assert res.exit_code == 1 and f"error: {batch}:2: unknown reform 'hubs'; allowed" in res.output
    assert not out.exists()  # refused before the first quote, not at merge time


def test_label_and_merge_refuse_a_config_reading_another_label_column(tmp_path, tiny_splits):
    """They write and read the corpus' own `label` column: a config that reads labels from
    another column would not train on what they write, so it is refused up front."""
    config = tmp_path / "cfg.yaml"
    config.write_text(_config(tmp_path, tiny_splits).read_text().replace(
        "data:\n", "data:\n  label_column: stance\n"), encoding="utf-8")  # fmt: skip
    out = tmp_path / "l.jsonl"
    res = CliRunner().invoke(
        app, ["label", str(_batch(tmp_path)), "-o", str(out), "-c", str(config)]
    )
    assert res.exit_code == 1 and not out.exists()
    assert f"error: {config}: its data section names the label column 'stance'" in res.output
    res = CliRunner().invoke(app, ["data", "merge", str(_batch(tmp_path)), "-c", str(config)])
    assert (
        res.exit_code == 1 and "stance data merge reads and writes the column 'label'" in res.output
    )


def test_merge_refuses_dev_set_quotes(tmp_path, tiny_splits):
    """The dev set is held out like the test split: copies, re-cuts, near-copies, its source."""
    new = _new(tmp_path, [
        {"id": "n1", "text": DEV_TEXTS[0].lower(), "label": "support"},
        {"id": "n2", "text": "She told the conference: " + DEV_TEXTS[1], "label": "oppose"},
        {"id": "n3", "text": DEV_TEXTS[1].rstrip(".") + " today.", "label": "oppose"},
        {"id": "n4", "text": "A fresh quote nobody has labelled yet.", "label": "support",
         "source": "dev_positions"},
        {"id": "n5", "text": "Another fresh quote about the hubs.", "label": "support"},
    ])  # fmt: skip
    dev, out = _dev(tmp_path), tmp_path / "merged.jsonl"
    res = CliRunner().invoke(app, ["data", "merge", str(new), "--into", str(tiny_splits["corpus"]),
                                   "-o", str(out), "--test", str(tiny_splits["test"]),
                                   "--dev", str(dev)])  # fmt: skip
    assert res.exit_code == 1 and not out.exists()
    assert f"{new}:1: leak: same text as the dev set ({dev}:1)" in res.output
    assert f"{new}:2: leak: re-cut of a text of the dev set ({dev}:2)" in res.output
    assert (
        f"{new}:3: leak: near-duplicate" in res.output and f"of the dev set ({dev}:2)" in res.output
    )
    assert f"{new}:4: leak: quote from the development set ('dev_positions')" in res.output
    assert f"{new}:5:" not in res.output
    assert "4 problem(s); nothing merged" in res.output


def test_merge_refuses_a_missing_test_or_dev_file(tmp_path, tiny_splits, monkeypatch):
    """A test or dev path that is not a file stops the merge: the leak check never skips."""
    from stance.errors import DataError
    from stance.labelling.merge import merge_problems

    new = _new(tmp_path, [{"id": "n1", "text": "A fresh quote nobody has labelled yet.",
                           "label": "support"}])  # fmt: skip
    typo = tmp_path / "splits" / "tset.jsonl"
    with pytest.raises(DataError, match=f"^{typo}: expected the test split here.*--test PATH$"):
        merge_problems(tiny_splits["corpus"], [new], test=typo, dev=_dev(tmp_path))
    with pytest.raises(DataError, match=f"^{typo}: expected the development set .*--dev PATH$"):
        merge_problems(tiny_splits["corpus"], [new], test=tiny_splits["test"], dev=typo)
    # The CLI defaults are relative to the repository root: run elsewhere, they are missing.
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "merged.jsonl"
    res = CliRunner().invoke(app, ["data", "merge", str(new), "--into", str(tiny_splits["corpus"]),
                                   "-o", str(out)])  # fmt: skip
    assert res.exit_code == 1 and not out.exists()
    assert res.output.startswith("error: data/splits/test.jsonl: expected the test split here")
    assert f"relative paths start at {tmp_path}" in res.output and len(res.output.splitlines()) == 1
    res = CliRunner().invoke(app, ["data", "merge", str(new), "--into", str(tiny_splits["corpus"]),
                                   "-o", str(out), "--test", str(tiny_splits["test"])])  # fmt: skip
    assert res.exit_code == 1 and "error: data/dev_positions.jsonl: " in res.output
    assert "pass --dev PATH" in res.output and not out.exists()


# --- learning curve ------------------------------------------------------------------------------


def test_nested_subsets_are_nested_and_stratified():
    from stance.labelling.curve import nested_subsets

    labels = ["a"] * 16 + ["b"] * 8 + ["c"] * 2
    subsets = nested_subsets(labels, (0.125, 0.25, 0.5, 1.0), seed=1)
    assert [len(s) for s in subsets] == [2 + 1 + 1, 4 + 2 + 1, 8 + 4 + 1, 26]
    for small, big in zip(subsets, subsets[1:]):
        assert set(small) <= set(big)
    assert nested_subsets(labels, (0.5,), seed=2) != nested_subsets(labels, (0.5,), seed=1)


def test_learning_curve_has_the_right_points(tmp_path, tiny_splits):
    config = _config(tmp_path, tiny_splits)
    out = tmp_path / "curve"
    args = ["learning-curve", "--config", str(config), "--fractions", "0.25,0.5,1", "--seeds", "2",
            "--eval", str(tiny_splits["test"]), "--eval", str(tiny_splits["validation"]),
            "--out", str(out), "--json", "-q"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    curve = json.loads(res.output)
    # 12 training statements, 4 per label: ceil(f * 4) per label.
    assert [(p["fraction"], p["seed"], p["n_train"]) for p in curve["points"]] == [
        (0.25, 0, 3),
        (0.5, 0, 6),
        (1.0, 0, 12),
        (0.25, 1, 3),
        (0.5, 1, 6),
        (1.0, 1, 12),
    ]
    assert [(r["file"], r["fraction"]) for r in curve["summary"]] == [
        (f, x) for f in ("test", "validation") for x in (0.25, 0.5, 1.0)
    ]
    for name in ("learning_curve.md", "learning_curve.json", "learning_curve.png"):
        assert (out / name).stat().st_size > 0
    assert "| 0.25 | 3 |" in (out / "learning_curve.md").read_text()
    # Each score is the existing metric on the model's predictions; check one with sklearn.
    from sklearn.metrics import f1_score

    from stance.config import load_config
    from stance.data.io import load_labelled
    from stance.labelling.folds import train_and_predict

    cfg = load_config(config)
    train = load_labelled(tiny_splits["train"])
    test = load_labelled(tiny_splits["test"])
    validation = load_labelled(tiny_splits["validation"])  # early stopping and calibration
    (proba,) = train_and_predict(cfg, train, validation, [test.texts])
    pred = [LABELS[i] for i in proba.argmax(axis=1)]
    expected = f1_score(test.labels, pred, labels=list(LABELS), average="macro", zero_division=0)
    full = [p for p in curve["points"] if p["fraction"] == 1.0][0]
    assert full["scores"]["test"]["macro_f1"] == pytest.approx(expected)
    rows = [r for r in curve["summary"] if r["file"] == "test" and r["fraction"] == 0.25]
    f1s = [p["scores"]["test"]["macro_f1"] for p in curve["points"] if p["fraction"] == 0.25]
    assert rows[0]["macro_f1_mean"] == pytest.approx(np.mean(f1s))
    assert rows[0]["macro_f1_sd"] == pytest.approx(np.std(f1s, ddof=1))


def test_learning_curve_on_the_seed_cross_validation(tmp_path, tiny_records, tiny_splits):
    from sklearn.metrics import f1_score

    from stance.evaluation.evaluate import cross_validate

    # Article a.txt plays the authored statements; b.txt and c.txt are the seed articles.
    records = [{**r, "source": "authored"} if r["source"] == "a.txt" else r for r in tiny_records]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    config = _config(tmp_path, {**tiny_splits, "corpus": corpus})
    args = ["learning-curve", "--config", str(config), "--seed-cv", "--fractions", "0.5,1",
            "--seeds", "1", "--eval", str(_dev(tmp_path)), "--out",
            str(tmp_path / "curve"), "--json", "-q"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    curve = json.loads(res.output)
    assert curve["seed_cv"] is True and list(curve["eval_files"]) == ["seed_cv", "dev"]
    half, full = curve["points"]
    assert half["n_train"] < full["n_train"]
    assert [f["article"] for f in full["folds"]] == ["b.txt", "c.txt"]
    # At fraction 1 each fold trains on exactly what stance cv trains on: same pooled score.
    cv = cross_validate(config, n_resamples=50)
    assert full["scores"]["seed_cv"]["macro_f1"] == pytest.approx(cv["macro_f1"])
    assert full["seed_cv_predictions"]["predicted"] == [p["predicted"] for p in cv["predictions"]]
    held = full["seed_cv_predictions"]
    expected = f1_score(held["gold"], held["predicted"], labels=list(LABELS), average="macro",
                        zero_division=0)  # fmt: skip
    assert full["scores"]["seed_cv"]["macro_f1"] == pytest.approx(expected)
    low, high = full["scores"]["seed_cv"]["macro_f1_ci"]
    assert low <= expected <= high
    # Other files: the mean of the fold models' scores.
    fold_f1 = [f["scores"]["dev"]["macro_f1"] for f in full["folds"]]
    assert full["scores"]["dev"]["macro_f1"] == pytest.approx(np.mean(fold_f1))


def test_learning_curve_on_the_seed_cross_validation_refuses_corpus_quotes(
    tmp_path, tiny_records, tiny_splits
):
    """Every corpus text trains or validates some fold model, so a seed-CV --eval file holding
    one (the test split, or a copy up to case and spacing) would score models on quotes they
    saw: refused before any training."""
    records = [{**r, "source": "authored"} if r["source"] == "a.txt" else r for r in tiny_records]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    config = _config(tmp_path, {**tiny_splits, "corpus": corpus})
    seen = json.loads(Path(tiny_splits["test"]).read_text().splitlines()[1])
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [
        {"text": DEV_TEXTS[0], "label": "support"},
        {"text": "  " + seen["text"].upper(), "label": seen["label"]},
    ])  # fmt: skip
    for path, where, count in ((tiny_splits["test"], 1, "3 of 3"), (mixed, 2, "1 of 2")):
        out = tmp_path / "curve"
        args = ["learning-curve", "--config", str(config), "--seed-cv", "--seeds", "1",
                "--eval", str(_dev(tmp_path)), "--eval", str(path), "--out", str(out)]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1 and not out.exists()
        assert res.output.startswith(f"error: {path}:{where}: expected quotes the seed "
                                     f"cross-validation never trains on, found {count} texts "
                                     f"also in the corpus {corpus}")  # fmt: skip
        assert len(res.output.splitlines()) == 1


def test_learning_curve_on_the_seed_cross_validation_needs_authored_data(tmp_path, tiny_splits):
    config = _config(tmp_path, tiny_splits)
    res = CliRunner().invoke(app, ["learning-curve", "--config", str(config), "--seed-cv",
                                   "--seeds", "1", "--out", str(tmp_path / "c")])  # fmt: skip
    assert res.exit_code == 1
    assert "no authored statements to cut" in res.output and "corpus.jsonl" in res.output


def test_throwaway_models_do_not_cut_the_quotes_they_score(transformer_config, recwarn):
    """Under max_length: auto, the texts scored by a fold's model count as stance cv's test."""
    from stance.config import load_config
    from stance.data.io import load_labelled
    from stance.inference.predictor import TruncationWarning
    from stance.labelling.folds import train_and_predict

    cfg = load_config(transformer_config, {"transformer.max_length": "auto"})
    train = load_labelled(cfg.data.train)
    long_quote = " ".join(["The vanguard model has merits, but only if funding follows."] * 6)
    (proba,) = train_and_predict(cfg, train, None, [[long_quote]])
    assert proba.shape == (1, 3)
    assert not [w for w in recwarn if issubclass(w.category, TruncationWarning)]


def test_label_never_cuts_or_writes_a_file_that_is_not_its_own(tmp_path):
    """A CSV name, or a file of other lines, is refused before anything is written: the
    torn-line repair used to cut the last line off such a file first."""
    batch = _batch(tmp_path, 2)
    mine = tmp_path / "mine.csv"
    mine.write_text("id,text,label\nx1,A precious labelled quote,support")
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(mine)], input="1\n")
    assert res.exit_code == 1 and "JSON Lines" in res.output
    assert mine.read_text() == "id,text,label\nx1,A precious labelled quote,support"
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my notes\nmore notes")
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(notes)], input="1\n")
    assert res.exit_code == 1 and "notes.jsonl:1: not a record of a labelling session" in res.output
    assert notes.read_text() == "my notes\nmore notes"
    res = CliRunner().invoke(app, ["label", str(batch), "-o", str(batch)], input="1\n")
    assert res.exit_code == 1 and "would overwrite" in res.output


def test_merge_output_must_be_jsonl_and_never_a_held_out_file(tmp_path, tiny_splits):
    from stance.labelling.merge import merge_labels

    new = _new(tmp_path, [{"id": "n1", "text": "A fresh quote nobody has labelled yet.",
                           "label": "support"}])  # fmt: skip
    before = Path(tiny_splits["test"]).read_text()
    checks = {"test": tiny_splits["test"], "dev": None}
    with pytest.raises(DataError, match="would overwrite"):
        merge_labels(tiny_splits["corpus"], [new], tiny_splits["test"], **checks)
    with pytest.raises(DataError, match="written as JSON Lines"):
        merge_labels(tiny_splits["corpus"], [new], tmp_path / "corpus.csv", **checks)
    with pytest.raises(DataError, match="would overwrite"):
        merge_labels(tiny_splits["corpus"], [new], new, **checks)
    assert Path(tiny_splits["test"]).read_text() == before


def test_suggest_and_review_refuse_their_own_input_as_output(tmp_path, baseline_model):
    pool = write_jsonl(
        tmp_path / "pool.jsonl", [{"text": f"Quote {i} on the hubs."} for i in range(4)]
    )
    before = pool.read_text()
    res = CliRunner().invoke(app, ["suggest", "-i", str(pool), "--n", "2", "-m",
                                   str(baseline_model), "-o", str(pool)])  # fmt: skip
    assert res.exit_code == 1 and "would overwrite" in res.output and pool.read_text() == before
    res = CliRunner().invoke(app, ["review", str(pool), "-o", str(tmp_path / "flagged.csv")])
    assert res.exit_code == 1 and "written as JSON Lines" in res.output


@pytest.mark.parametrize("fractions", ["0,2", "nan", ",", "0.5,1.5"])
def test_learning_curve_refuses_bad_fractions_in_one_line(tmp_path, fractions):
    res = CliRunner().invoke(app, ["learning-curve", "--fractions", fractions,
                                   "--out", str(tmp_path / "lc")])  # fmt: skip
    assert res.exit_code == 2 and "fractions in (0, 1]" in res.output
    assert "Traceback" not in res.output


def test_learning_curve_and_cv_check_their_output_folder_before_training(tmp_path, tiny_splits):
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = CliRunner().invoke(app, ["learning-curve", "--fractions", "1", "--out", str(afile)])
    assert res.exit_code == 1 and "is a file" in res.output and "fraction" not in res.output
    res = CliRunner().invoke(
        app, ["cv", "--config", "configs/baseline.yaml", "--report", str(afile)]
    )
    assert res.exit_code == 1 and "is a file" in res.output and "fold 1" not in res.output


def test_kind_specific_options_name_the_flag(transformer_config, baseline_config, tmp_path):
    res = CliRunner().invoke(app, ["learning-curve", "-c", str(transformer_config), "--C", "10",
                                   "--out", str(tmp_path / "lc")])  # fmt: skip
    assert res.exit_code == 2 and "--C" in res.output and "drop --C" in res.output
    res = CliRunner().invoke(app, ["learning-curve", "-c", str(baseline_config), "--epochs", "2",
                                   "--out", str(tmp_path / "lc")])  # fmt: skip
    assert res.exit_code == 2 and "drop --epochs" in res.output
    res = CliRunner().invoke(app, ["review", "-c", str(transformer_config), "--C", "10"])
    assert res.exit_code == 2 and "drop --C" in res.output
