"""Adding newly labelled quotes to a corpus, refusing duplicates and test-set leakage.

All checks run before anything is written, and nothing is written if any fails:

- each new file is a valid corpus file (:func:`stance.data.corpus.check_files`: schema, labels,
  duplicate ids and texts within and across the new files);
- no new id or text is already in the corpus (the same check over corpus + new files);
- no new text leaks from the test split or the development set (``data/dev_positions.jsonl``):
  not the same text, not a re-cut (one text inside the other), not a near-duplicate
  (:func:`stance.data.corpus.near_duplicates`), not a quote from a held-out test article or
  with the dev set's source; both files must exist (a missing one is an error, not a skipped
  check: a relative default read from another directory would otherwise disable it silently);
- no new text is a near-duplicate of a corpus text, or contains one or is contained in one
  (refused unless ``allow_near``: two speakers can say nearly the same thing, but a re-cut of
  a labelled quote would count twice).

Example:
    >>> merge_labels("data/corpus.jsonl", ["labelled.jsonl"], output="my/corpus.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stance.constants import (
    CORPUS_FIELDS,
    DEV_PATH,
    DEV_SOURCE,
    LABELS,
    TEST_SOURCES,
    TEST_SPLIT_PATH,
)
from stance.data.corpus import Problem, check_files, near_duplicates, write_jsonl
from stance.data.io import check_jsonl_output, read_records
from stance.errors import DataError

__all__ = ["DEFAULT_TEST", "NEAR_DUPLICATE", "contains", "merge_problems", "merge_labels"]

DEFAULT_TEST = TEST_SPLIT_PATH
NEAR_DUPLICATE = 0.8


def _texts(path: Path) -> list[tuple[int, dict[str, Any]]]:
    return [(line, r) for line, r in read_records(path) if isinstance(r.get("text"), str)]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _source_problems(new: list[tuple[str, int, dict]], test_sources: Sequence[str],
                     dev_sources: Sequence[str]) -> list[Problem]:  # fmt: skip
    """New records whose source is a held-out test article or the dev set."""
    found = []
    for path, line, r in new:
        if r.get("source") in test_sources:
            found.append(Problem(path, line, f"leak: quote from held-out test article "
                                 f"{r['source']!r}; test articles are never trained on"))  # fmt: skip
        elif r.get("source") in dev_sources:
            found.append(Problem(path, line, f"leak: quote from the development set "
                                 f"({r['source']!r}); the dev set is never trained on"))  # fmt: skip
    return found


def _leak_problems(new: list[tuple[str, int, dict]], held: list[tuple[str, int, dict]],
                   what: str, threshold: float) -> list[Problem]:  # fmt: skip
    """New records that are, contain, are contained in or nearly are a text of ``held``
    (the test split or the dev set, named ``what`` in the messages)."""
    found = []
    held_norm = {_norm(r["text"]): (p, ln) for p, ln, r in held}
    for path, line, r in new:
        if _norm(r["text"]) in held_norm:
            p, ln = held_norm[_norm(r["text"])]
            found.append(Problem(path, line, f"leak: same text as {what} ({p}:{ln})"))
    found += [
        Problem(path, line, f"leak: re-cut of a text of {what} ({p}:{ln}); one holds the other")
        for path, line, n in new for p, ln, r in held if contains(n["text"], r["text"])
    ]  # fmt: skip
    texts = [r["text"] for _, _, r in held] + [r["text"] for _, _, r in new]
    k = len(held)
    for i, j, sim in near_duplicates(texts, threshold):
        if i < k <= j and _norm(texts[i]) != _norm(texts[j]):
            path, line, _ = new[j - k]
            p, ln, _ = held[i]
            found.append(Problem(path, line, f"leak: near-duplicate (cosine {sim:.2f}) of "
                                 f"{what} ({p}:{ln})"))  # fmt: skip
    return found


def _held_rows(path: str | Path | None, what: str, option: str) -> list[tuple[str, int, dict]]:
    """The texts of a held-out file; None means no such file to check against."""
    if path is None:
        return []
    if not Path(path).is_file():
        # Never skip silently: the defaults are relative, so run elsewhere they miss the file.
        raise DataError(path, f"expected {what} here, to check new quotes against it for leaks; "
                        f"found no file (relative paths start at {Path.cwd()}); run from the "
                        f"repository root or pass {option} PATH")  # fmt: skip
    return [(str(path), line, r) for line, r in _texts(Path(path))]


def contains(a: str, b: str, min_chars: int = 30) -> bool:
    """One text holds the other (normalised), the shorter having at least ``min_chars``
    characters: the same statement cut with other boundaries (``stance extract`` keeps
    scene-setting that a hand-cut unit leaves out), which TF-IDF cosine can miss."""
    a, b = _norm(a), _norm(b)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= min_chars and short != long and short in long


def _near_problems(new: list[tuple[str, int, dict]], corpus: list[tuple[str, int, dict]],
                   threshold: float) -> list[Problem]:  # fmt: skip
    texts = [r["text"] for _, _, r in corpus] + [r["text"] for _, _, r in new]
    k = len(corpus)
    found = [
        Problem(path, line, f"re-cut of {p}:{ln} ({r.get('id')}): one text contains the other; "
                "pass --allow-near-duplicates if both belong")
        for path, line, n in new for p, ln, r in corpus if contains(n["text"], r["text"])
    ]  # fmt: skip
    for i, j, sim in near_duplicates(texts, threshold):
        if i < k <= j and _norm(texts[i]) != _norm(texts[j]):  # exact copies: check_files
            path, line, _ = new[j - k]
            p, ln, r = corpus[i]
            found.append(Problem(path, line, f"near-duplicate (cosine {sim:.2f}) of {p}:{ln} "
                                 f"({r.get('id')}); pass --allow-near-duplicates if both belong"))  # fmt: skip
    return found


def merge_problems(
    corpus: str | Path,
    new_files: Sequence[str | Path],
    test: str | Path | None = DEFAULT_TEST,
    labels: Sequence[str] = LABELS,
    allow_near: bool = False,
    threshold: float = NEAR_DUPLICATE,
    test_sources: Sequence[str] = TEST_SOURCES,
    dev: str | Path | None = DEV_PATH,
    dev_sources: Sequence[str] = (DEV_SOURCE,),
) -> list[Problem]:
    """Every reason not to merge ``new_files`` into ``corpus`` (empty list: safe to merge).

    ``test`` and ``dev`` are the held-out files new quotes must not leak from; None skips
    that file's text checks (not the source checks).

    Raises:
        DataError: ``test`` or ``dev`` is given (the defaults included) but is not a file.
    """
    test_rows = _held_rows(test, "the test split", "--test")
    dev_rows = _held_rows(dev, "the development set", "--dev")
    new_paths = [Path(p) for p in new_files]
    problems = check_files(new_paths, labels=labels, fields=CORPUS_FIELDS)
    if problems:
        return problems  # fix the files themselves before comparing them with the corpus
    shown = {str(p) for p in new_paths}
    # Checked together, a text or id in both the corpus and a new file is reported in the latter.
    problems = [p for p in check_files([Path(corpus), *new_paths], labels=labels)
                if p.path in shown]  # fmt: skip
    new = [(str(p), line, r) for p in new_paths for line, r in _texts(p)]
    problems += _source_problems(new, test_sources, dev_sources)
    problems += _leak_problems(new, test_rows, "the test split", threshold)
    problems += _leak_problems(new, dev_rows, "the dev set", threshold)
    if not allow_near:
        corpus_rows = [(str(corpus), line, r) for line, r in _texts(Path(corpus))]
        problems += _near_problems(new, corpus_rows, threshold)
    return problems


def merge_labels(
    corpus: str | Path,
    new_files: Sequence[str | Path],
    output: str | Path | None = None,
    **checks: Any,
) -> dict[str, Any]:
    """Append the records of ``new_files`` to ``corpus`` and write ``output`` (default: the
    corpus itself), atomically, if :func:`merge_problems` finds nothing.

    The output is JSON Lines, so it must have a JSONL name, and it may be neither a new file
    nor the test split or the dev set (:func:`~stance.data.io.check_jsonl_output`: a
    DataError before anything is read).

    Returns:
        ``{"ok", "problems": [str], "n_corpus", "n_new", "output"}``; ``output`` is None and
        nothing is written when ``ok`` is False.
    """
    target = Path(output) if output is not None else Path(corpus)
    held_out = [checks.get("test", DEFAULT_TEST), checks.get("dev", DEV_PATH)]
    check_jsonl_output(target, [*held_out, *new_files], "merged corpus")
    problems = merge_problems(corpus, new_files, **checks)
    base = [r for _, r in read_records(corpus)]
    if problems:
        return {"ok": False, "problems": [str(p) for p in problems], "n_corpus": len(base),
                "n_new": 0, "output": None}  # fmt: skip
    new = [r for p in new_files for _, r in read_records(p)]
    write_jsonl(target, [*base, *new])
    return {"ok": True, "problems": [], "n_corpus": len(base), "n_new": len(new),
            "output": str(target)}  # fmt: skip
