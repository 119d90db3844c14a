"""The labelled quote corpus: validation, statistics, near-duplicates, splits and folds.

The corpus (``data/corpus.jsonl``) holds one statement per line with the fields of
:data:`stance.constants.CORPUS_FIELDS`. Seed quotes come from the articles in
``data/articles/`` (``source`` is the article's file name, ``start``/``end`` its character
offsets there); authored statements have ``source: authored``.

Splits are deterministic and grouped: the test split is seed quotes only, whole articles at a
time; authored statements are for training and validation only. :func:`article_folds` gives
leave-one-article-out folds over the seeds for cross-validation.

Example:
    >>> records = load_corpus("data/corpus.jsonl")                     # doctest: +SKIP
    >>> splits = split_corpus(records)                                  # doctest: +SKIP
    >>> {name: len(rows) for name, rows in splits.items()}               # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.constants import (
    AUTHORED_SOURCE,
    CORPUS_FIELDS,
    FORMS,
    LABELS,
    NULLABLE_FIELDS,
    PAIR_FIELD,
    TEST_SOURCES,
    VOCABULARIES,
)
from stance.data.io import iter_records, scan_records, write_jsonl, write_jsonl_files
from stance.errors import DataError

__all__ = [
    "Problem",
    "check_files",
    "ensure_valid",
    "load_corpus",
    "corpus_stats",
    "near_duplicates",
    "split_corpus",
    "article_folds",
    "is_real_quote",
    "write_jsonl",
    "write_splits",
    "vocabulary_problem",
    "TEST_SOURCES",
]

# Seed articles whose quotes form the held-out test split (whole articles at a time).
VALIDATION_FRACTION = 0.15


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus file, printed as ``file:line: message``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def check_files(
    paths: Sequence[str | Path],
    labels: Sequence[str] = LABELS,
    fields: Sequence[str] = CORPUS_FIELDS,
    text_column: str = "text",
    label_column: str = "label",
) -> list[Problem]:
    """Validate one or more corpus files; return every problem found (empty list = valid).

    Checks malformed JSON/CSV, non-UTF-8 or binary content, empty files, missing or empty
    fields, unknown labels, roles and reforms outside the guidelines' vocabularies (when
    ``fields`` requires them), duplicate ids, exact duplicate texts, and (when several files
    are given, each taken as one split) texts that occur in more than one file.

    Args:
        paths: the files; a directory stands for the ``*.jsonl`` and ``*.csv`` files in it.
        labels: the allowed labels.
        fields: the fields every record must have (``("text", "label")`` for a plain labelled file).
        text_column, label_column: the columns that hold the statement and the label (they
            stand for ``text`` and ``label`` in ``fields``); a config's ``data.text_column`` and
            ``data.label_column``.

    Labels are compared after stripping surrounding whitespace, as every reader does
    (:func:`stance.data.io.load_labelled`), so a file that trains also passes the check.

    Example:
        >>> [str(p) for p in check_files(["data/corpus.jsonl"])]   # doctest: +SKIP
        []
    """
    files, problems = _expand_paths(paths)
    ids: dict[str, tuple[str, int | None]] = {}
    texts: dict[str, tuple[str, int | None]] = {}
    pair_seen: dict[str, list[tuple[str, int | None, Any]]] = {}
    allowed = set(labels)
    renamed = {"text": text_column, "label": label_column}
    fields = [renamed.get(name, name) for name in fields]
    for path in files:
        try:
            rows = list(scan_records(path))
        except DataError as exc:  # unknown suffix
            problems.append(Problem(exc.path, exc.line, exc.message))
            continue
        for line, record, problem in rows:
            if problem is not None:
                problems.append(Problem(str(path), line, problem))
                continue
            assert record is not None
            # Per record, in this order: its fields, its label, form/pair, then duplicates.
            problems.extend(_field_problems(str(path), line, record, fields))
            problems.extend(_label_problems(str(path), line, record, label_column, labels, allowed))
            problems.extend(_vocabulary_problems(str(path), line, record, fields))
            problems.extend(_optional_field_problems(str(path), line, record, pair_seen))
            problems.extend(
                _duplicate_problems(
                    str(path), line, record, "id" in fields, text_column, ids, texts
                )
            )
    problems.extend(_pair_problems(pair_seen))
    return problems


def _expand_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Check step 1: the files to read (a directory's ``*.jsonl``/``*.csv``), and empty dirs."""
    files: list[Path] = []
    problems: list[Problem] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.jsonl"), *p.glob("*.csv")])
            if not found:
                problems.append(Problem(str(p), None, "directory holds no .jsonl or .csv files"))
            files.extend(found)
        else:
            files.append(p)
    return files, problems


def _field_problems(
    path: str, line: int | None, record: dict[str, Any], fields: Sequence[str]
) -> list[Problem]:
    """Check step 2: every required field is present and a non-empty string (or a null allowed)."""
    found = []
    for name in fields:
        value = record.get(name)
        if name not in record:
            found.append(Problem(path, line, f"missing field {name!r}"))
        elif value is None and name in NULLABLE_FIELDS:
            continue
        elif not isinstance(value, str) or not value.strip():
            found.append(
                Problem(
                    path,
                    line,
                    f"field {name!r} must be a non-empty string, found {value!r:.40}",
                )
            )
    return found


def _label_problems(
    path: str,
    line: int | None,
    record: dict[str, Any],
    label_column: str,
    labels: Sequence[str],
    allowed: set[str],
) -> list[Problem]:
    """Check step 3: the label, stripped as every reader strips it, is an allowed one."""
    label = record.get(label_column)
    if isinstance(label, str) and label.strip() and label.strip() not in allowed:
        return [Problem(path, line, f"unknown label {label!r}; allowed: {', '.join(labels)}")]
    return []


def vocabulary_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` as a ``role`` or ``reform`` (None if it is in the
    guidelines' vocabulary, or None/empty: a missing value is a different problem)."""
    allowed = VOCABULARIES[name]
    if value in (None, "") or value in allowed:
        return None
    return f"unknown {name} {value!r}; allowed (data/GUIDELINES.md): {', '.join(allowed)}"


def _vocabulary_problems(
    path: str, line: int | None, record: dict[str, Any], fields: Sequence[str]
) -> list[Problem]:
    """Check step 3b: a required ``role`` or ``reform`` is one of the guidelines' values."""
    found = []
    for name in VOCABULARIES:
        value = record.get(name)
        # A missing, blank or non-string value is step 2's problem; only a wrong word is here.
        if name in fields and isinstance(value, str) and value.strip():
            problem = vocabulary_problem(name, value)
            if problem:
                found.append(Problem(path, line, problem))
    return found


def _duplicate_problems(
    path: str,
    line: int | None,
    record: dict[str, Any],
    check_ids: bool,
    text_column: str,
    ids: dict[str, tuple[str, int | None]],
    texts: dict[str, tuple[str, int | None]],
) -> list[Problem]:
    """Check step 4: duplicate ids, and texts seen before (in this file or another split)."""
    # ids/texts map what was seen to where it was first seen, across files: updated here.
    found = []
    rid = record.get("id")
    if check_ids and isinstance(rid, str) and rid:
        if rid in ids:
            first_path, first_line = ids[rid]
            found.append(
                Problem(path, line, f"duplicate id {rid!r} (first at {first_path}:{first_line})")
            )
        else:
            ids[rid] = (path, line)
    text = record.get(text_column)
    if isinstance(text, str) and text.strip():
        key = _normalise(text)
        if key in texts:
            other_path, other_line = texts[key]
            kind = "in more than one split" if other_path != path else "duplicate text"
            found.append(Problem(path, line, f"{kind}: same text as {other_path}:{other_line}"))
        else:
            texts[key] = (path, line)
    return found


def _optional_field_problems(
    path: str, line: int | None, record: dict[str, Any], pair_seen: dict
) -> list[Problem]:
    """``form`` must be in :data:`FORMS`; ``pair_id`` is noted for :func:`_pair_problems`."""
    found = []
    form = record.get("form")
    if form is not None and form not in FORMS:
        found.append(Problem(path, line, f"unknown form {form!r}; allowed: {', '.join(FORMS)}"))
    pair = record.get(PAIR_FIELD)
    if pair is not None:
        if not isinstance(pair, str) or not pair.strip():
            found.append(Problem(path, line, f"{PAIR_FIELD} must be a non-empty string or null"))
        else:
            pair_seen.setdefault(pair, []).append((path, line, record.get("label")))
    return found


def _pair_problems(pair_seen: dict[str, list[tuple[str, int | None, Any]]]) -> list[Problem]:
    """A contrast pair is exactly two statements with different labels."""
    found = []
    for pair, members in pair_seen.items():
        path, line, _ = members[-1]
        if len(members) != 2:
            found.append(
                Problem(
                    path,
                    line,
                    f"{PAIR_FIELD} {pair!r} has {len(members)} member(s); a contrast pair has exactly 2",
                )
            )
        elif members[0][2] == members[1][2]:
            found.append(
                Problem(
                    path,
                    line,
                    f"{PAIR_FIELD} {pair!r}: both members are labelled {members[0][2]!r}; a contrast pair differs in label",
                )
            )
    return found


def ensure_valid(
    path: str | Path,
    labels: Sequence[str] = LABELS,
    text_column: str = "text",
    label_column: str = "label",
) -> None:
    """Raise on the first problem :func:`check_files` finds in one corpus file.

    Raises:
        DataError: naming the file and line, and how many more problems there are.
    """
    problems = check_files(
        [path], labels=labels, text_column=text_column, label_column=label_column
    )
    if problems:
        p = problems[0]
        columns = "".join(
            f" --{flag}-column {name}"
            for flag, name, default in (
                ("text", text_column, "text"),
                ("label", label_column, "label"),
            )
            if name != default
        )
        more = (
            f" (and {len(problems) - 1} more; run `stance data check {path}{columns}`)"
            if len(problems) > 1
            else ""
        )
        raise DataError(p.path, p.message + more, line=p.line)


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    """Read a corpus file after checking it; raise on the first problem.

    Raises:
        DataError: the first problem :func:`check_files` finds (file and line named).
    """
    ensure_valid(path)
    return [record for _, record in iter_records(path)]


def _length_summary(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {}
    qs = (
        statistics.quantiles(lengths, n=20, method="inclusive")
        if len(lengths) > 1
        else [lengths[0]] * 19
    )
    return {
        "min": min(lengths), "p05": qs[0], "p25": qs[4], "median": statistics.median(lengths),
        "p75": qs[14], "p95": qs[18], "max": max(lengths), "mean": round(statistics.fmean(lengths), 1),
    }  # fmt: skip


def corpus_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts per label, per source, per role, per reform, label by source, and text lengths (words).

    Returns:
        ``{"n", "labels", "sources", "roles", "reforms", "label_by_source", "length_words", "hard"}``.
    """
    by_source: dict[str, Counter] = {}
    for r in records:
        by_source.setdefault(str(r.get("source")), Counter())[r.get("label")] += 1
    return {
        "n": len(records),
        "labels": dict(Counter(r.get("label") for r in records).most_common()),
        "sources": dict(Counter(str(r.get("source")) for r in records).most_common()),
        "roles": dict(Counter(str(r.get("role")) for r in records).most_common()),
        "reforms": dict(Counter(str(r.get("reform")) for r in records).most_common()),
        "label_by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        "length_words": _length_summary([len(str(r.get("text", "")).split()) for r in records]),
        "hard": sum(1 for r in records if r.get("hard")),
    }


def near_duplicates(
    texts: Sequence[str], threshold: float = 0.8, pairs: Sequence[str | None] | None = None
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with TF-IDF cosine similarity above ``threshold``, most similar first.

    Word unigrams and bigrams, sublinear tf, English text as is (no stop-word removal, so
    statements that differ only in content words still count as different).

    Args:
        pairs: the contrast-pair id of each text (``None`` for none). The two members of one
            contrast pair differ by a clause on purpose, so they are exempt from each other,
            and from nothing else.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) < 2:
        return []
    matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    sims = (matrix @ matrix.T).tocoo()
    pairs = [
        (int(i), int(j), float(s))
        for i, j, s in zip(sims.row, sims.col, sims.data)
        if i < j and s > threshold and not (pairs and pairs[i] is not None and pairs[i] == pairs[j])
    ]
    return sorted(pairs, key=lambda p: -p[2])


def _stable_fraction(key: str, seed: int) -> float:
    # A hash, not random.shuffle: the split of a record never depends on the others.
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def _validation_ids(authored: Sequence[dict[str, Any]], fraction: float, seed: int) -> set[int]:
    """Which authored records (by ``id()``) go to validation: about ``fraction`` of each
    (label, form) stratum, both members of a contrast pair together.

    Pairs are placed first, by a hash of their pair id (so a pair never straddles the split);
    each stratum is then topped up to its share with the lowest-hash singletons. Hashes of ids
    keep the choice stable when statements are added.
    """
    chosen: set[int] = set()
    for r in authored:
        pair = r.get(PAIR_FIELD)
        if pair and _stable_fraction(f"pair:{pair}", seed) < fraction:
            chosen.add(id(r))
    strata: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in authored:
        strata.setdefault((str(r["label"]), str(r.get("form") or "")), []).append(r)
    for rows in strata.values():
        want = round(len(rows) * fraction) - sum(id(r) in chosen for r in rows)
        singles = sorted(
            (r for r in rows if not r.get(PAIR_FIELD)),
            key=lambda r: _stable_fraction(str(r["id"]), seed),
        )
        chosen.update(id(r) for r in singles[: max(0, want)])
    return chosen


def split_corpus(
    records: Sequence[dict[str, Any]],
    test_sources: Sequence[str] = TEST_SOURCES,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> dict[str, list[dict[str, Any]]]:
    """Deterministic grouped splits: ``{"train", "validation", "test"}``.

    - test: the seed quotes of ``test_sources`` (whole articles);
    - validation: about ``validation_fraction`` of the authored statements of each label and
      form, contrast pairs kept whole (see :func:`_validation_ids`);
    - train: everything else (the remaining authored statements and the other articles' seeds).

    Raises:
        DataError: a test source has no quotes in the corpus (a typo in its name).
    """
    present = {r["source"] for r in records}
    missing = [s for s in test_sources if s not in present]
    if missing:
        raise DataError(
            missing[0],
            f"no quotes from this test article in the corpus; sources present: {', '.join(sorted(present))}",
        )
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    authored: list[dict[str, Any]] = []
    for r in records:
        if r["source"] in test_sources:
            splits["test"].append(r)
        elif r["source"] == AUTHORED_SOURCE:
            authored.append(r)
        else:
            splits["train"].append(r)
    chosen = _validation_ids(authored, validation_fraction, seed)
    for r in authored:
        splits["validation" if id(r) in chosen else "train"].append(r)
    order = {id(r): i for i, r in enumerate(records)}
    for rows in splits.values():  # keep corpus order inside each split
        rows.sort(key=lambda r: order[id(r)])
    return splits


def write_splits(splits: dict[str, list[dict[str, Any]]], out: str | Path) -> dict[str, Path]:
    """Write ``splits`` (from :func:`split_corpus`) as ``<out>/<name>.jsonl``, as one set.

    The three files are only valid together (a text moved from train to test must leave
    train), so none replaces its previous version until all are written.
    """
    paths = {name: Path(out) / f"{name}.jsonl" for name in splits}
    write_jsonl_files({paths[name]: rows for name, rows in splits.items()})
    return paths


def is_real_quote(record: dict[str, Any], column: str = "source") -> bool:
    """A row cut from an article, not an authored statement: its ``column`` (``source``, the
    corpus field that says where a row came from) is a non-blank string other than ``authored``.
    """
    source = record.get(column)
    return isinstance(source, str) and bool(source.strip()) and source != AUTHORED_SOURCE


def article_folds(
    records: Sequence[dict[str, Any]],
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
    group_column: str = "source",
    path: str | Path = "corpus",
    lines: Sequence[int] | None = None,
) -> list[tuple[str, list[int], list[int], list[int]]]:
    """Leave-one-article-out folds over the seed quotes.

    Each fold holds out one group of seed quotes (one article, with the default
    ``group_column: source``) as its test set and trains on everything else (authored
    statements and the other groups' seeds), except a validation set of authored statements
    (the same as in :func:`split_corpus`) kept for early stopping. Seed quotes are told from
    authored statements by ``source`` whatever ``group_column`` is, so authored statements are
    never a fold.

    Args:
        path, lines: the corpus file and each record's line there, to name in errors (lines
            default to ``1, 2, ...``).

    Returns:
        ``[(article, train_indices, validation_indices, test_indices), ...]``, one per group,
        in group-name order; indices into ``records``.

    Raises:
        DataError: a seed quote has no ``group_column`` value (it would belong to no fold).
    """
    validation_ids = {
        id(r)
        for r in split_corpus(
            records, test_sources=(), validation_fraction=validation_fraction, seed=seed
        )["validation"]
    }
    groups = _seed_groups(records, group_column, path, lines)
    folds = []
    for article in sorted(set(groups.values())):
        train, validation, test = [], [], []
        for i, r in enumerate(records):
            if groups.get(i) == article:
                test.append(i)
            elif id(r) in validation_ids:
                validation.append(i)
            else:
                train.append(i)
        folds.append((article, train, validation, test))
    return folds


def _seed_groups(
    records: Sequence[dict[str, Any]],
    group_column: str,
    path: str | Path,
    lines: Sequence[int] | None,
) -> dict[int, str]:
    """The fold name of each seed quote, by index; a seed with no group value is an error
    rather than a silent "None" fold pooling every such quote."""
    groups = {}
    for i, r in enumerate(records):
        if not is_real_quote(r):
            continue
        value = r.get(group_column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(
                path,
                f"seed quote (source {r.get('source')!r}) has no {group_column!r} value, found "
                f"{value!r}; leave-one-out folds group seed quotes by data.group_column "
                f"({group_column!r}), so fill it in or choose another data.group_column",
                line=lines[i] if lines is not None else i + 1,
            )
        groups[i] = str(value)
    return groups
