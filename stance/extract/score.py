"""From articles to a stance table: extract the quotes, predict each one, summarise per speaker.

The net stance of a speaker is the mean, over their quotes, of ``P(support) - P(oppose)``:
``+1`` means every quote is confidently ``support``, ``-1`` confidently ``oppose``, and values
near 0 mean mixed, conditional or uncertain statements (``conditional`` probability counts
toward neither side). Beside it the summary gives the majority label (ties broken by the
higher summed probability) and the count of each label, so a reader sees both the verdict and
how it was reached.

Example:
    >>> from stance.extract.score import score_articles, summarise_speakers        # doctest: +SKIP
    >>> scored = score_articles(["data/articles/000_410b97c1aec12e84.txt"], model="models/baseline")  # doctest: +SKIP
    >>> [(s.speaker, s.majority, round(s.net, 2)) for s in summarise_speakers(scored)]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stance.constants import DEFAULT_BATCH_SIZE, DEFAULT_RESAMPLES, NET_STANCE_POLES
from stance.extract.quotes import Quote, extract_file

if TYPE_CHECKING:
    from stance.inference.predictor import Predictor

__all__ = [
    "ScoredQuote", "SpeakerSummary", "score_quotes", "score_articles", "summarise_speakers",
    "speaker_key", "COMMENTS_GROUP", "UNATTRIBUTED_GROUP",
]  # fmt: skip

# Names of the speaker groups for units without a named speaker.
COMMENTS_GROUP = "(readers' comments)"
UNATTRIBUTED_GROUP = "(unattributed)"
# The labels whose probabilities make the net stance (support minus oppose).
_PRO, _CON = NET_STANCE_POLES


@dataclass(frozen=True)
class ScoredQuote:
    """An extracted unit with its predicted stance.

    Attributes:
        quote: the extracted unit (text, speaker, source, offsets, kind).
        label: the most probable label.
        confidence: the probability of ``label``.
        scores: the probability of every label.
        model_dir: the model that scored it (its held-out error rates adjust the speaker shares).
    """

    quote: Quote
    label: str
    confidence: float
    scores: dict[str, float]
    model_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The extraction fields plus ``label``, ``confidence`` and ``scores`` (JSON-ready)."""
        out = self.quote.to_dict()
        out.update(label=self.label, confidence=self.confidence, scores=dict(self.scores))
        return out


@dataclass(frozen=True)
class SpeakerSummary:
    """How one speaker (or group of unnamed speakers) stands across their quotes.

    Attributes:
        speaker: the speaker's name, or :data:`COMMENTS_GROUP` / :data:`UNATTRIBUTED_GROUP`.
        n: number of quotes.
        labels: number of quotes predicted with each label (every model label, zeros kept).
        majority: the most frequent label (ties: the higher summed probability).
        net: mean of ``P(support) - P(oppose)`` over the quotes, in [-1, 1]; ``None`` when the
            model's labels do not include both ``support`` and ``oppose``.
        mean_confidence: mean confidence of the quotes' predictions.
        sources: the articles the quotes come from, in first-seen order.
        shares: per label, the raw share of the speaker's quotes, the share adjusted for the
            model's held-out error rates, and 95% intervals; ``small`` when under 10 quotes
            (see :func:`stance.evaluation.prevalence.prevalence`).
    """

    speaker: str
    n: int
    labels: dict[str, int]
    majority: str
    net: float | None
    mean_confidence: float
    sources: list[str]
    shares: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, ready for ``json.dumps``."""
        return {
            "speaker": self.speaker, "n": self.n, "labels": dict(self.labels),
            "majority": self.majority, "net": self.net,
            "mean_confidence": self.mean_confidence, "sources": list(self.sources),
            "shares": self.shares,
        }  # fmt: skip


def _model_text(quote: Quote) -> str:
    # One line per unit for the model: a quote over several paragraphs keeps its words only.
    return " ".join(quote.text.split())


def score_quotes(
    quotes: Sequence[Quote],
    model: str | Path | Predictor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[ScoredQuote]:
    """Predict the stance of extracted units.

    Args:
        quotes: units from :func:`stance.extract.quotes.extract_quotes` / ``extract_file``.
        model: a model directory, a loaded predictor, or ``None`` for the default model
            (see :func:`stance.inference.predictor.resolve_model_dir`).
        batch_size: texts per forward pass.

    Returns:
        One :class:`ScoredQuote` per unit, same order.

    Raises:
        ModelError: the model is missing or broken.
    """
    from stance.inference.predictor import Predictor, load

    predictor = model if isinstance(model, Predictor) else load(model)
    quotes = list(quotes)
    if not quotes:
        return []
    predictions = predictor.predict([_model_text(q) for q in quotes], batch_size=batch_size)
    return [
        ScoredQuote(
            quote=q,
            label=p.label,
            confidence=p.confidence,
            scores=dict(p.scores),
            model_dir=str(predictor.model_dir) if predictor.model_dir else None,
        )  # fmt: skip
        for q, p in zip(quotes, predictions)
    ]


def score_articles(
    paths: Iterable[str | Path],
    model: str | Path | Predictor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, list[ScoredQuote]]:
    """Extract and score the units of each article.

    The model is loaded before any article is read, so a bad model directory fails fast.

    Args:
        paths: plain-text article files.
        model: see :func:`score_quotes`.
        batch_size: texts per forward pass.

    Returns:
        ``{path as given: [ScoredQuote, ...]}`` in the order given (an article without
        quotes maps to an empty list).

    Raises:
        DataError: an article is missing, binary or not UTF-8.
        ModelError: the model is missing or broken.

    Example:
        >>> by_article = score_articles(["a.txt"], model="models/baseline")   # doctest: +SKIP
    """
    from stance.inference.predictor import Predictor, load

    predictor = model if isinstance(model, Predictor) else load(model)
    extracted = {str(p): extract_file(p) for p in paths}
    # one prediction call for all articles: batches stay full
    flat = [q for qs in extracted.values() for q in qs]
    scored = iter(score_quotes(flat, predictor, batch_size=batch_size))
    return {name: [next(scored) for _ in qs] for name, qs in extracted.items()}


def speaker_key(quote: Quote) -> str:
    """The name a unit is summarised under: its speaker, or a group for unnamed ones."""
    if quote.speaker:
        return quote.speaker
    return COMMENTS_GROUP if quote.kind == "comment" else UNATTRIBUTED_GROUP


def summarise_speakers(
    scored: Iterable[ScoredQuote] | dict[str, list[ScoredQuote]],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[SpeakerSummary]:
    """Per-speaker summary: number of quotes, their labels, majority label, net stance, and
    the shares of each label with 95% intervals.

    The shares come from :func:`stance.evaluation.prevalence.prevalence`, the function behind
    ``stance prevalence``: adjusted for the held-out error rates of the model that scored the
    quotes when its directory records them, else raw counts (interval over quotes only).

    Args:
        scored: scored units, or the dict :func:`score_articles` returns.
        n_resamples, seed: bootstrap settings of the share intervals.

    Returns:
        One :class:`SpeakerSummary` per speaker, most quotes first (then by name).

    Example:
        >>> summarise_speakers([])
        []
    """
    if isinstance(scored, dict):
        scored = [s for items in scored.values() for s in items]
    groups: dict[str, list[ScoredQuote]] = {}
    for item in scored:
        groups.setdefault(speaker_key(item.quote), []).append(item)
    shares = _speaker_shares(groups, n_resamples, seed)
    out = []
    for speaker, items in groups.items():
        label_names = list(items[0].scores)
        counts = {name: 0 for name in label_names}
        mass = {name: 0.0 for name in label_names}
        for it in items:
            counts[it.label] = counts.get(it.label, 0) + 1
            for name, p in it.scores.items():
                mass[name] = mass.get(name, 0.0) + p
        majority = max(counts, key=lambda name: (counts[name], mass.get(name, 0.0)))
        net = None
        if _PRO in mass and _CON in mass:
            net = (mass[_PRO] - mass[_CON]) / len(items)
        sources: list[str] = []
        for it in items:
            if it.quote.source and it.quote.source not in sources:
                sources.append(it.quote.source)
        out.append(SpeakerSummary(
            speaker=speaker, n=len(items), labels=counts, majority=majority, net=net,
            mean_confidence=sum(it.confidence for it in items) / len(items), sources=sources,
            shares=shares.get(speaker),
        ))  # fmt: skip
    out.sort(key=lambda s: (-s.n, s.speaker))
    return out


def _speaker_shares(
    groups: dict[str, list[ScoredQuote]], n_resamples: int, seed: int
) -> dict[str, dict[str, Any]]:
    """Per speaker: the :func:`~stance.evaluation.prevalence.prevalence` row (n, small, shares)."""
    if not groups:
        return {}
    import numpy as np

    from stance.errors import ModelError
    from stance.evaluation.prevalence import model_confusion, prevalence

    first = next(iter(groups.values()))[0]
    labels = list(first.scores)
    confusion: Any = np.eye(len(labels), dtype=np.int64)  # no error rates: raw counts
    adjusted = False
    if first.model_dir:
        try:
            labels, confusion, _ = model_confusion(first.model_dir)
            adjusted = True
        except ModelError:  # a model without held-out error rates: raw shares
            pass
    speakers = [speaker for speaker, items in groups.items() for _ in items]
    predicted = [it.label for items in groups.values() for it in items]
    rows = prevalence(predicted, speakers, labels, confusion, n_resamples=n_resamples, seed=seed)
    return {row["group"]: {"adjusted": adjusted, "small": row["small"], **row["shares"]}
            for row in rows}  # fmt: skip
