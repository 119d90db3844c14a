"""Which unlabelled quotes to label next: the uncertain ones, and not near-copies of each other.

Selection in three steps:

1. drop quotes already labelled (exact or near-duplicate texts of the files in ``exclude``,
   by default the corpus, or re-cuts: one text inside the other), quotes of the held-out files
   (the test split and the dev set, when they exist: never trained on, so ``stance data
   merge`` would refuse their labels) and near-copies inside the input itself (the first is
   kept);
2. rank the rest by uncertainty of the model (``margin``: 1 - (p1 - p2), or normalised
   ``entropy``) and keep the ``pool_factor * n`` most uncertain;
3. pick ``n`` of those by greedy k-center on TF-IDF vectors (cosine distance): start from the
   most uncertain, then repeatedly take the quote farthest from everything picked so far.

TF-IDF rather than model embeddings: the baseline has none, it is the same for both model
kinds, and two quotes that share their words are exactly the near-copies worth avoiding.

Example:
    >>> batch = suggest("quotes.jsonl", n=50, model="models/baseline")   # doctest: +SKIP
    >>> batch["items"][0]["guess"], batch["items"][0]["scores"]          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.constants import HELD_OUT_PATHS
from stance.data.io import read_records, validate_text
from stance.errors import DataError

__all__ = [
    "METHODS",
    "NEAR_DUPLICATE",
    "item_id",
    "uncertainty",
    "k_center",
    "suggest",
    "model_proba",
]

METHODS = ("margin", "entropy")
# TF-IDF cosine above which two quotes count as near-copies (the corpus check's threshold).
NEAR_DUPLICATE = 0.8


def item_id(record: dict[str, Any], text: str) -> str:
    """The record's ``id``, or a stable one made from its text (same text, same id)."""
    rid = record.get("id")
    if isinstance(rid, str) and rid.strip():
        return rid
    norm = " ".join(text.split()).casefold()
    return "q-" + hashlib.sha1(norm.encode("utf-8")).hexdigest()[:12]


def uncertainty(proba: np.ndarray, method: str = "margin") -> np.ndarray:
    """Per-row uncertainty in [0, 1]: 1 - (top - second) or entropy / log(k)."""
    if method not in METHODS:
        raise ValueError(
            f"uncertainty method must be one of {', '.join(METHODS)}, found {method!r}"
        )
    p = np.clip(np.asarray(proba, dtype=float), 1e-12, 1.0)
    if method == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    return -(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])


def k_center(vectors: Any, n: int) -> list[int]:
    """Greedy k-center: row 0 first, then each time the row farthest (cosine) from those picked.

    ``vectors`` are L2-normalised rows (dense or sparse) in priority order: ties go to the
    earlier row, so with equal distances the more uncertain quote wins.
    """
    m = vectors.shape[0]
    if m == 0 or n <= 0:
        return []
    chosen = [0]
    nearest = 1.0 - _cosine(vectors, 0)
    while len(chosen) < min(n, m):
        nearest[chosen] = -1.0  # never pick the same row twice
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, 1.0 - _cosine(vectors, nxt))
    return chosen


def _cosine(vectors: Any, row: int) -> np.ndarray:
    sims = vectors @ vectors[row].T
    return np.asarray(sims.todense() if hasattr(sims, "todense") else sims).ravel()


def _tfidf(texts: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(list(texts))


def _read_pool(path: Path, text_column: str,
               check: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The input quotes (every column kept), each with an ``id``; unlabelled or not.

    ``check(line, record)``, if given, sees each record as it is read (so the file is read
    once) and raises DataError to refuse it.
    """
    pool = []
    for line, record in read_records(path):
        try:
            text = validate_text(record.get(text_column), f"column {text_column!r}")
        except (TypeError, ValueError) as exc:
            raise DataError(path, f"{exc}; every quote needs a text", line=line) from None
        if check is not None:
            check(line, record)
        pool.append({**record, "id": item_id(record, text), "text": text})
    return pool


def _labelled_texts(paths: Sequence[str | Path]) -> list[str]:
    texts = []
    for path in paths:
        texts.extend(str(r.get("text", "")) for _, r in read_records(path) if r.get("text"))
    return texts


def _fresh(pool: list[dict[str, Any]], labelled: list[str], threshold: float) -> list[int]:
    """Indices of pool quotes that are neither near-copies of a labelled text nor of an
    earlier pool quote that is kept.

    The pool is walked in input order, so the answer never depends on which pair of near-copies
    happens to be the most similar: of a chain A ~ B ~ C (C not close to A), A and C are kept.
    """
    from stance.data.corpus import near_duplicates
    from stance.labelling.merge import contains

    texts = labelled + [r["text"] for r in pool]
    exact = {" ".join(t.split()).casefold() for t in labelled}
    dropped = {i for i, r in enumerate(pool) if " ".join(r["text"].split()).casefold() in exact}
    # Re-cuts of labelled quotes (one text inside the other) are labelled already too.
    dropped |= {i for i, r in enumerate(pool) if any(contains(r["text"], t) for t in labelled)}
    offset = len(labelled)
    earlier: dict[int, set[int]] = {}  # pool index -> the earlier pool quotes it is close to
    for i, j, _ in near_duplicates(texts, threshold):  # i < j
        if i < offset <= j:
            dropped.add(j - offset)
        elif i >= offset:
            earlier.setdefault(j - offset, set()).add(i - offset)
    # An exact repeat within the input scores 1.0 and is caught above.
    kept: list[int] = []
    for k in range(len(pool)):
        if k not in dropped and not earlier.get(k, set()).intersection(kept):
            kept.append(k)
    return kept


def model_proba(texts: Sequence[str], model: str | Path | None, config: str | Path | None,
                labels_out: list[str]) -> np.ndarray:  # fmt: skip
    """Probabilities from a trained model directory, or from a model trained now on the
    config's training split (in a temporary directory). ``labels_out`` receives the labels."""
    if model is not None:
        from stance.inference.predictor import load

        predictor = load(model)
        labels_out.extend(predictor.labels)
        return np.asarray(predictor.predict_proba(list(texts)))
    from stance.config import load_config
    from stance.labelling.folds import train_and_predict
    from stance.models.training import prepare_data

    cfg = load_config(config or "configs/baseline.yaml")
    data = prepare_data(cfg)
    labels_out.extend(cfg.data.labels)
    (proba,) = train_and_predict(cfg, data.train, data.validation, [list(texts)])
    return proba


def suggest(
    input: str | Path,
    n: int = 50,
    model: str | Path | None = None,
    config: str | Path | None = None,
    method: str = "margin",
    pool_factor: int = 5,
    exclude: Sequence[str | Path] = (),
    text_column: str = "text",
    threshold: float = NEAR_DUPLICATE,
    held_out: Sequence[str | Path] = HELD_OUT_PATHS,
) -> dict[str, Any]:
    """Pick the ``n`` quotes of ``input`` most worth labelling next (see the module docstring).

    Args:
        input: JSONL/CSV of quotes (e.g. ``stance extract`` output); labels, if any, are ignored.
        model: a trained model directory; if None, ``config`` (default the baseline's) is
            trained now on its training split.
        method: ``margin`` or ``entropy``.
        pool_factor: k-center chooses among the ``pool_factor * n`` most uncertain quotes.
        exclude: labelled files whose texts (and near-copies) are never suggested.
        held_out: files never trained on (default the test split and the dev set), excluded
            like ``exclude`` when they exist, whatever ``exclude`` says.

    Returns:
        ``{"input", "n_input", "excluded", "n_excluded", "n_pool", "method", "labels",
        "items"}`` (``excluded``: the files whose texts were skipped); each item
        is the input record (``label`` removed) plus ``id``, ``rank``, ``guess``, ``scores``
        (one probability per label) and ``uncertainty``, in the order to label them.
    """
    if n < 1 or pool_factor < 1:
        raise ValueError(f"n and pool_factor must be >= 1, found {n} and {pool_factor}")
    path = Path(input)
    pool = _read_pool(path, text_column)
    excluded = [*map(str, exclude)]
    excluded += [str(p) for p in held_out if Path(p).is_file() and str(p) not in excluded]
    keep = _fresh(pool, _labelled_texts(excluded), threshold)
    fresh = [pool[i] for i in keep]
    labels: list[str] = []
    proba = model_proba([r["text"] for r in fresh], model, config, labels) if fresh else None
    items = _select(fresh, proba, labels, n, method, pool_factor) if fresh else []
    return {
        "input": str(path),
        "n_input": len(pool),
        "excluded": excluded,
        "n_excluded": len(pool) - len(fresh),
        "n_pool": min(len(fresh), n * pool_factor),
        "method": method,
        "labels": labels,
        "items": items,
    }


def _select(fresh: list[dict[str, Any]], proba: np.ndarray, labels: list[str], n: int,
            method: str, pool_factor: int) -> list[dict[str, Any]]:  # fmt: skip
    unsure = uncertainty(proba, method)
    # Stable sort: equally uncertain quotes keep their input order.
    order = np.argsort(-unsure, kind="stable")[: n * pool_factor]
    vectors = _tfidf([fresh[i]["text"] for i in order])
    picked = [int(order[j]) for j in k_center(vectors, n)]
    picked.sort(key=lambda i: -unsure[i])  # label the most uncertain first
    items = []
    for rank, i in enumerate(picked, start=1):
        record = {k: v for k, v in fresh[i].items() if k != "label"}
        items.append({
            **record, "rank": rank, "guess": labels[int(proba[i].argmax())],
            "scores": {label: round(float(p), 4) for label, p in zip(labels, proba[i])},
            "uncertainty": round(float(unsure[i]), 4),
        })  # fmt: skip
    return items
