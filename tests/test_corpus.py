"""`stance data check|stats|split`: every kind of broken file gets a precise file:line message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stance.cli import app
from stance.data.corpus import (
    article_folds,
    check_files,
    corpus_stats,
    near_duplicates,
    split_corpus,
)
from stance.data.io import load_labelled, read_records
from stance.errors import DataError

from .conftest import write_jsonl

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


def _good(i: int, **over) -> dict:
    record = {
        "id": f"x{i}", "text": f"Statement number {i} about federations.", "label": "support",
        "source": "authored", "speaker": "GP", "role": "gp_partner", "reform": "gp_federation",
    }  # fmt: skip
    record.update(over)
    return record


def _messages(path: Path) -> list[str]:
    return [str(p) for p in check_files([path])]


def test_valid_file_passes(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [_good(1), _good(2, speaker=None)])
    assert _messages(path) == []
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([json.dumps(_good(1)), '{"id": "x2", "text": "broken'], ":2: malformed JSON"),
        ([json.dumps(_good(1)), "[1, 2]"], ":2: expected a JSON object, found list"),
        (
            [json.dumps({k: v for k, v in _good(1).items() if k != "role"})],
            ":1: missing field 'role'",
        ),
        ([json.dumps(_good(1, text="   "))], ":1: field 'text' must be a non-empty string"),
        (
            [json.dumps(_good(1, label="neutral"))],
            ":1: unknown label 'neutral'; allowed: support, oppose, conditional",
        ),
        ([json.dumps(_good(1)), json.dumps(_good(1, text="Other text"))], ":2: duplicate id 'x1'"),
        (
            [
                json.dumps(_good(1)),
                json.dumps(_good(2, text="statement NUMBER 1 about  federations.")),
            ],
            ":2: duplicate text",
        ),
        ([], ": file is empty"),
    ],
)
def test_each_broken_kind_is_named(tmp_path, lines, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    messages = _messages(path)
    assert any(m.startswith(str(path)) and expected in m for m in messages), messages
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output


def test_non_utf8_and_binary(tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(
        json.dumps(_good(1)).encode() + b"\n" + '{"text": "caf\xe9"}\n'.encode("latin-1")
    )
    assert any(":2: not UTF-8" in m for m in _messages(latin))
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x00\x01\x02garbage")
    assert any(":1: binary data" in m for m in _messages(binary))


def test_text_in_two_splits(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [_good(1), _good(2)])
    test = write_jsonl(tmp_path / "test.jsonl", [_good(3, text=_good(2)["text"])])
    messages = [str(p) for p in check_files([train, test])]
    assert any(m.startswith(f"{test}:1: in more than one split") for m in messages), messages


def test_missing_path_and_directory(tmp_path):
    assert "file not found" in _messages(tmp_path / "nope.jsonl")[0]
    assert "no .jsonl or .csv" in str(check_files([tmp_path])[0])


def test_csv_accepted(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text(
        'text,label\n"We back it, fully.",support\nNot on my watch,oppose\n', encoding="utf-8"
    )
    assert [str(p) for p in check_files([path], fields=("text", "label"))] == []
    data = load_labelled(path)
    assert data.texts == ["We back it, fully.", "Not on my watch"] and data.labels == [
        "support",
        "oppose",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nok,support\nthree,fields,here\n", encoding="utf-8")
    assert any(
        ":3: expected 2 fields" in str(p) for p in check_files([bad], fields=("text", "label"))
    )


@pytest.mark.parametrize(
    ("body", "line", "also"),
    [
        # An unclosed quote: csv's lenient mode merged lines 3-4 into one text, silently.
        ('"a",support\n"b,oppose\n"c",conditional\n"d",support\n', 3, "at line 4"),
        # Unescaped quotes inside a quoted field: leniently read as 'She said no" to it"'.
        ('"She said "no" to it",oppose\n"We back it",support\n', 2, None),
        # A quote left open to the end of the file.
        ('"a",support\n"b,support\n', 3, None),
    ],
)
def test_csv_stray_quote_is_an_error_naming_the_record(tmp_path, body, line, also):
    path = tmp_path / "quotes.csv"
    path.write_text("text,label\n" + body, encoding="utf-8")
    with pytest.raises(DataError, match="stray or missing double quote") as caught:
        load_labelled(path)
    assert caught.value.line == line and str(caught.value).startswith(f"{path}:{line}: ")
    assert also is None or also in str(caught.value)
    messages = [str(p) for p in check_files([path], fields=("text", "label"))]
    assert len(messages) == 1 and messages[0].startswith(f"{path}:{line}: malformed CSV")


def test_csv_multiline_and_doubled_quotes_still_read(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text(
        'text,label\n"first line\nsecond, line",support\n\n"He said ""no"".",oppose\n'
        '"l1\r\nl2",bogus\n',
        encoding="utf-8",
    )
    records = read_records(path)
    assert [r["text"] for _, r in records] == [
        "first line\nsecond, line",
        'He said "no".',
        "l1\r\nl2",
    ]
    # A record spanning lines is numbered by its first line, so errors point at its start.
    assert [line for line, _ in records] == [2, 5, 6]
    with pytest.raises(DataError, match=r"quotes\.csv:6: .*bogus"):
        load_labelled(path)


def test_stats_and_near_duplicates(tiny_records):
    stats = corpus_stats(tiny_records)
    assert stats["n"] == 18 and stats["labels"] == {"support": 6, "oppose": 6, "conditional": 6}
    assert sum(stats["sources"].values()) == 18
    assert (
        stats["length_words"]["min"]
        <= stats["length_words"]["median"]
        <= stats["length_words"]["max"]
    )
    texts = [
        "The vanguard cut admissions a lot.",
        "The vanguard cut admissions a lot!",
        "Something else entirely.",
    ]
    pairs = near_duplicates(texts, threshold=0.8)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def _corpus() -> list[dict]:
    rows = []
    for i in range(40):
        rows.append(
            _good(
                i, label=("support", "oppose", "conditional")[i % 3], text=f"authored statement {i}"
            )
        )
    for art in ("a.txt", "b.txt", "c.txt"):
        for i in range(3):
            rows.append(_good(100 + i, id=f"{art}-{i}", source=art, text=f"seed {art} {i}"))
    return rows


def test_splits_are_grouped_and_deterministic():
    records = _corpus()
    splits = split_corpus(records, test_sources=("c.txt",))
    assert {r["source"] for r in splits["test"]} == {"c.txt"}
    assert all(r["source"] == "authored" for r in splits["validation"])
    assert not any(r["source"] == "c.txt" for r in splits["train"])
    assert sum(map(len, splits.values())) == len(records)
    assert split_corpus(records, test_sources=("c.txt",)) == splits
    # Adding statements never moves existing ones between train and validation.
    bigger = split_corpus(records + [_good(999, text="new one")], test_sources=("c.txt",))
    assert {r["id"] for r in splits["validation"]} <= {r["id"] for r in bigger["validation"]} | {
        "x999"
    }
    with pytest.raises(Exception, match="no quotes from this test article"):
        split_corpus(records, test_sources=("zzz.txt",))


def test_article_folds_leave_one_article_out():
    records = _corpus()
    folds = article_folds(records)
    assert [name for name, *_ in folds] == ["a.txt", "b.txt", "c.txt"]
    for name, train, validation, test in folds:
        assert {records[i]["source"] for i in test} == {name}
        assert (
            not set(train) & set(test)
            and not set(validation) & set(test)
            and not set(train) & set(validation)
        )
        assert all(records[i]["source"] != name for i in train)


def _speaker_corpus() -> list[dict]:
    """_corpus() with each seed quote's speaker set (authored statements keep speaker 'GP')."""
    speakers = {"a.txt": "Ann", "b.txt": "Ben", "c.txt": "Ann"}
    return [r if r["source"] == "authored" else {**r, "speaker": speakers[r["source"]]}
            for r in _corpus()]  # fmt: skip


def test_article_folds_by_another_column_fold_only_seed_quotes():
    records = _speaker_corpus()
    folds = article_folds(records, group_column="speaker")
    # Authored statements are never a fold, whatever the group column: seeds are told by source.
    assert [name for name, *_ in folds] == ["Ann", "Ben"]
    for name, train, validation, test in folds:
        assert {records[i]["source"] for i in test} == (
            {"a.txt", "c.txt"} if name == "Ann" else {"b.txt"}
        )
        assert sorted(train + validation + test) == list(range(len(records)))
        assert all(records[i]["source"] == "authored" for i in validation)


def test_seed_quote_without_a_group_value_is_an_error_naming_its_line(tmp_path, baseline_config):
    records = _speaker_corpus()
    records[-1]["speaker"] = None  # anonymous: allowed in the corpus, but no fold to go to
    line = len(records)
    with pytest.raises(
        DataError, match=rf"^corpus:{line}: seed quote .* no 'speaker' value, found None"
    ):
        article_folds(records, group_column="speaker")
    corpus = write_jsonl(tmp_path / "corpus.jsonl", records)
    config = tmp_path / "config.yaml"
    raw = yaml.safe_load(baseline_config.read_text(encoding="utf-8"))
    raw["data"].update({"corpus": str(corpus), "group_column": "speaker"})
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = runner.invoke(app, ["cv", "--config", str(config), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"error: {corpus}:{line}: seed quote"), result.output


def test_split_cli_writes_files(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus())
    result = runner.invoke(
        app,
        ["data", "split", str(corpus), "--out", str(tmp_path / "splits"), "--test-source", "c.txt"],
    )
    assert result.exit_code == 0, result.output
    assert check_files([tmp_path / "splits"]) == []
    result = runner.invoke(app, ["data", "stats", str(corpus), "--json"])
    assert json.loads(result.output)["n"] == len(_corpus())


def test_split_files_are_replaced_as_a_set(tmp_path):
    """A failure writing the last split leaves every previous split file as it was: the three
    files are valid only together, so none is replaced before all are written."""
    from stance.data.corpus import write_splits

    out = tmp_path / "splits"
    write_splits(split_corpus(_corpus(), test_sources=("c.txt",)), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = split_corpus(_corpus()[1:], test_sources=("c.txt",))
    broken["test"].append(
        {"id": "bad", "text": object()}
    )  # not JSON: fails after train, validation
    with pytest.raises(TypeError):
        write_splits(broken, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no leftovers either


def test_a_full_disk_while_syncing_any_split_replaces_none(tmp_path, monkeypatch):
    """A full disk often shows only when the data is flushed or synced: if that happens to the
    second file, the first must not have been renamed into place already."""
    import errno
    import os

    from stance.data.corpus import write_splits

    out = tmp_path / "splits"
    write_splits(split_corpus(_corpus(), test_sources=("c.txt",)), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left"):
        write_splits(split_corpus(_corpus()[1:], test_sources=("c.txt",)), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bundled_corpus_passes_check():
    assert [str(p) for p in check_files([REPO / "data" / "corpus.jsonl"])] == []
    assert [str(p) for p in check_files([REPO / "data" / "splits"])] == []


def _authored(i, label, form="direct", pair=None):
    return {"id": f"a{i}", "text": f"statement number {i} about networks {label}", "label": label,
            "source": "authored", "speaker": "GP", "role": "gp_partner", "reform": "pcn",
            "form": form, "pair_id": pair}  # fmt: skip


def test_split_keeps_pairs_together_and_stratifies_by_label_and_form():
    from stance.data.corpus import split_corpus

    records = [_authored(i, ("support", "oppose", "conditional")[i % 3], ("direct", "reported")[i % 2])
               for i in range(600)]  # fmt: skip
    for k in range(60):  # 60 contrast pairs
        records.append(_authored(1000 + 2 * k, "support", "reported", pair=f"p{k}"))
        records.append(_authored(1001 + 2 * k, "conditional", "reported", pair=f"p{k}"))
    records.append({**_authored(5000, "oppose"), "source": "t.txt"})
    splits = split_corpus(records, test_sources=("t.txt",), validation_fraction=0.15)
    where = {r["id"]: name for name, rows in splits.items() for r in rows}
    for k in range(60):
        assert where[f"a{1000 + 2 * k}"] == where[f"a{1001 + 2 * k}"]
    val = splits["validation"]
    for label in ("support", "oppose", "conditional"):
        for form in ("direct", "reported"):
            n_all = sum(
                r["label"] == label and r["form"] == form
                for r in records
                if r["source"] == "authored"
            )
            n_val = sum(r["label"] == label and r["form"] == form for r in val)
            assert abs(n_val - 0.15 * n_all) <= 3, (label, form, n_val, n_all)


def test_near_duplicates_exempt_only_the_two_members_of_a_pair():
    from stance.data.corpus import near_duplicates

    a = "The network will work and the ICB will fund the extra pharmacists next year."
    b = "The network will work if the ICB will fund the extra pharmacists next year."
    texts = [a, b, a + " Truly."]
    assert {(i, j) for i, j, _ in near_duplicates(texts, 0.7)} == {(0, 1), (0, 2), (1, 2)}
    pairs = ["p1", "p1", None]
    assert {(i, j) for i, j, _ in near_duplicates(texts, 0.7, pairs=pairs)} == {(0, 2), (1, 2)}
    # A third statement sharing the pair's id is still checked against both (only 2 members exempt).
    assert {(i, j) for i, j, _ in near_duplicates(texts, 0.7, pairs=["p1", None, "p1"])} == {
        (0, 1),
        (1, 2),
    }


def test_check_rejects_unknown_form_and_broken_pairs(tmp_path):
    from stance.data.corpus import check_files

    rows = [_authored(1, "support", form="tweet"), _authored(2, "support", pair="p1"),
            _authored(3, "support", pair="p1"), _authored(4, "oppose", pair="p2")]  # fmt: skip
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    messages = [str(p) for p in check_files([path])]
    assert any("c.jsonl:1: unknown form 'tweet'; allowed: direct" in m for m in messages)
    assert any("pair_id 'p1': both members are labelled 'support'" in m for m in messages)
    assert any("pair_id 'p2' has 1 member(s)" in m for m in messages)
