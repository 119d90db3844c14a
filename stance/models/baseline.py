"""The baseline: TF-IDF over word and character n-grams, then logistic regression.

Why this baseline: it trains in seconds, its errors are easy to inspect (:func:`explain`
lists the n-grams that drive each label), and any fancier model has to beat it to earn its
cost.

- Features: a ``FeatureUnion`` of two TF-IDF vectorizers, word n-grams and character
  n-grams within word boundaries (``char_wb``: robust to spelling variants and inflections),
  with sublinear tf. Settings come from ``config.baseline``.
- Classifier: multinomial ``LogisticRegression`` with balanced class weights.
- ``C`` is chosen by grouped cross-validation on the training split only (statements from one
  article never sit on both sides of a fold; each authored statement is a group of its own),
  scored by macro-F1. The per-C scores are
  recorded in ``metadata.json``.
- Saved with skops (no pickle) and loaded with an explicit list of trusted types.

Example:
    >>> from stance.config import load_config                                 # doctest: +SKIP
    >>> result = train_baseline(load_config("configs/baseline.yaml"))          # doctest: +SKIP
    >>> result.metadata["cv"]["best_C"]                                        # doctest: +SKIP
    3.0
    >>> explain("models/baseline", top=3)["oppose"]                            # doctest: +SKIP
    [('word:scrap', 1.21), ('char: abolish', 0.97), ('word:not', 0.88)]
"""

from __future__ import annotations

import json
import logging
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# scikit-learn at module level is fine here: `import stance` never imports this module (the
# predictor registry imports it only when a baseline is loaded), and skops must be able to
# import CompactTfidfVectorizer from it.
from sklearn.feature_extraction.text import TfidfVectorizer

from stance.config import BaselineSettings, TrainConfig
from stance.constants import AUTHORED_SOURCE, DEFAULT_BATCH_SIZE
from stance.errors import ConfigError, DataError, ModelError
from stance.inference.predictor import Predictor, available_cpus
from stance.models.artifacts import (
    atomic_directory,
    read_metadata,
    verify_checksums,
    write_metadata,
)
from stance.models.model_card import write_model_card
from stance.models.training import (
    PreparedData,
    TrainResult,
    calibration_files,
    fit_calibration,
    prepare_data,
    run_record,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from stance.data.io import LabelledData

__all__ = [
    "MODEL_FILE",
    "TRUSTED_TYPES",
    "BaselinePredictor",
    "CompactTfidfVectorizer",
    "build_pipeline",
    "select_C",
    "fit_pipeline",
    "train_baseline",
    "explain",
    "check_skops_types",
]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.skops"

# Every type a saved baseline pipeline contains, and nothing else. Loading refuses a file that
# holds any other type (even one skops itself would trust), so a swapped or crafted model.skops
# cannot smuggle in a callable. Found by dumping the fitted pipeline and listing the types in
# its schema (see check_skops_types); the numpy integer/float variants cover other platforms.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "stance.models.baseline.CompactTfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
)

# The skops node kinds such a pipeline is stored with. Others (functions, methods, operators,
# sparse matrices...) never occur in it and are refused.
_TRUSTED_LOADERS = frozenset(
    {
        "ObjectNode",
        "DictNode",
        "ListNode",
        "TupleNode",
        "JsonNode",
        "TypeNode",
        "NdArrayNode",
        "DTypeNode",
    }
)

# --- building and fitting ---------------------------------------------------------------


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` that saves its vocabulary as one array of terms.

    skops stores a dict entry by entry (a JSON node per key and per value): for a ~200k
    n-gram vocabulary that is a 150 MB schema and ~10 s to save and again to load. This
    subclass saves the vocabulary as a numpy string array ordered by feature index and
    rebuilds the same dict on load. Fitting and transforming are the parent's, unchanged.
    """

    def __getstate__(self) -> dict[str, Any]:
        # A copy: for a class outside sklearn, BaseEstimator returns the live __dict__.
        state = dict(super().__getstate__())
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            terms = [""] * len(vocab)
            for term, index in vocab.items():
                terms[index] = term
            state["vocabulary_terms_"] = np.array(terms, dtype=str)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(term): i for i, term in enumerate(terms.tolist())}
        super().__setstate__(state)


def build_pipeline(settings: BaselineSettings, C: float = 1.0, seed: int = 0) -> Pipeline:
    """An unfitted baseline pipeline: ``features`` (word + char TF-IDF) then ``clf`` (LR).

    Args:
        settings: ``config.baseline``. ``max_features`` caps each vectorizer separately.
        C: inverse regularisation strength of the logistic regression.
        seed: the regression's ``random_state`` (lbfgs is deterministic anyway).

    Returns:
        A scikit-learn ``Pipeline``.

    Example:
        >>> pipe = build_pipeline(BaselineSettings(), C=3.0)       # doctest: +SKIP
        >>> pipe.fit(texts, labels).predict_proba(["We back it."])  # doctest: +SKIP
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {
        "min_df": settings.min_df,
        "max_features": settings.max_features,
        "sublinear_tf": settings.sublinear_tf,
    }
    features = FeatureUnion(
        [
            (
                "word",
                CompactTfidfVectorizer(
                    analyzer="word", ngram_range=tuple(settings.word_ngram_range), **common
                ),
            ),
            (
                "char",
                CompactTfidfVectorizer(
                    analyzer="char_wb", ngram_range=tuple(settings.char_ngram_range), **common
                ),
            ),
        ]
    )
    clf = LogisticRegression(
        C=C,
        class_weight=None if settings.class_weight == "none" else settings.class_weight,
        max_iter=settings.max_iter,
        # Newton-CG with a tight tolerance: on these wide sparse TF-IDF matrices it reaches a
        # far more exact optimum (coefficients within ~1e-4 of a tol=1e-10 fit) about 4x
        # faster than sklearn's default lbfgs at tol=1e-4. Both are deterministic.
        solver="newton-cg",
        tol=1e-6,
        random_state=seed,
    )
    return Pipeline([("features", features), ("clf", clf)])


def _settings(config: TrainConfig) -> BaselineSettings:
    return config.baseline if config.baseline is not None else BaselineSettings()


def _fit(estimator: Any, X: Any, y: Sequence[str]) -> Any:
    """``estimator.fit`` with sklearn's messages about the settings turned into ConfigError."""
    try:
        return estimator.fit(X, y)
    except ValueError as exc:
        # "max_df corresponds to < documents than min_df": min_df exceeds the training texts.
        if any(m in str(exc) for m in ("no terms remain", "empty vocabulary", "than min_df")):
            raise ConfigError(
                f"baseline features: {exc} (lower baseline.min_df or raise baseline.max_features)"
            ) from None
        raise


def _splitter(
    config: TrainConfig, train: LabelledData
) -> tuple[Any, list[Any] | None, dict[str, Any]]:
    """The CV splitter for the training split: grouped when there are enough groups.

    Returns (splitter, groups or None, description for the metadata).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    settings, column = _settings(config), config.data.group_column
    folds = settings.cv_folds
    # Quotes from one article share a speaker, topic and wording, so they stay together;
    # authored statements were each written on their own, so each is its own group (as one
    # group they would make a single giant fold).
    raw = train.column(column)
    groups = [f"{AUTHORED_SOURCE}#{i}" if g == AUTHORED_SOURCE else g for i, g in enumerate(raw)]
    missing = sum(g is None for g in groups)
    n_groups = len({g for g in groups if g is not None})
    info: dict[str, Any] = {
        "group_column": column,
        "n_groups": n_groups,
        "folds": folds,
        "authored_singletons": raw.count(AUTHORED_SOURCE),
    }
    if missing == 0 and n_groups >= folds:
        info["splitter"] = "StratifiedGroupKFold"
        return (
            StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed),
            groups,
            info,
        )

    # Too few groups for grouped CV: stratified K-fold, said out loud because quotes from one
    # article then sit on both sides of a fold and the CV scores are optimistic.
    largest = max(Counter(train.labels).values())
    k = min(folds, largest)
    if k < 2:
        raise DataError(
            train.path,
            f"too few examples to cross-validate C (largest label has {largest}); "
            "add examples or give baseline.C_grid a single value",
        )
    reason = (
        f"{missing} training record(s) lack '{column}'"
        if missing
        else f"only {n_groups} distinct '{column}' value(s) in the training data, fewer than cv_folds={folds}"
    )
    note = (
        f"{reason}; choosing C by stratified {k}-fold CV instead of grouped CV "
        "(statements from one group may fall on both sides of a fold, so CV scores may be optimistic)"
    )
    logger.warning("%s: %s", train.path or "training data", note)
    info.update(splitter="StratifiedKFold", folds=k, note=note)
    return StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed), None, info


def _score_fold(
    template: Pipeline,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_held: np.ndarray,
    y_held: np.ndarray,
    grid: Sequence[float],
) -> list[float] | None:
    """Macro-F1 of every C in ``grid`` on one fold, or None when the fold cannot score any C.

    The TF-IDF features depend only on the fold's training part, not on C, so they are fitted
    once and shared by every C.
    """
    from sklearn.base import clone
    from sklearn.metrics import f1_score

    if len(set(y_train)) < 2:
        return None  # a classifier needs two classes
    features = _fit(clone(template.named_steps["features"]), X_train, y_train)
    fit_part, held_part = features.transform(X_train), features.transform(X_held)
    scores = []
    for c in grid:
        clf = clone(template.named_steps["clf"]).set_params(C=c).fit(fit_part, y_train)
        # Same as sklearn's "f1_macro" scorer: labels present in the fold's truth or predictions.
        scores.append(
            float(f1_score(y_held, clf.predict(held_part), average="macro", zero_division=0))
        )
    return scores


# Each fold worker computes on one thread: scikit-learn's OpenMP loss and BLAS would otherwise
# start a thread per core in every worker and oversubscribe the CPU (what joblib's Parallel
# sets for its own workers).
_ONE_THREAD = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
}


def _map_folds(args: list[tuple], workers: int) -> list[list[float] | None]:
    """:func:`_score_fold` over every fold, in ``workers`` processes when more than one.

    The folds are independent and each is single-threaded work (TF-IDF in Python, lbfgs), so
    on 2 cores the search takes about half as long in two processes. Every fold is
    deterministic, so the scores do not depend on ``workers``. The pool is the caller's own and
    closed before returning: no worker outlives the search (a reusable pool's idle workers
    would hold the caller's output pipes open long after it exits). loky's executor (joblib's,
    a dependency of scikit-learn) rather than the standard library's: its workers start fresh
    without re-running the caller's script, so a user's script needs no ``if __name__ ==
    "__main__"`` guard, and they never fork a process that may already run torch's threads.
    """
    if workers <= 1:
        return [_score_fold(*a) for a in args]
    from joblib.externals.loky import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, env=_ONE_THREAD) as pool:
        return list(pool.map(_score_fold, *zip(*args)))


def select_C(
    config: TrainConfig, train: LabelledData, quiet: bool = True, n_jobs: int | None = None
) -> dict[str, Any]:
    """Choose ``C`` from ``config.baseline.C_grid`` by cross-validated macro-F1 on ``train``.

    Folds come from ``StratifiedGroupKFold`` over ``config.data.group_column`` (seeded by
    ``config.seed``; records whose group is ``authored`` are each a group of their own), or
    stratified K-fold with a logged note when there are fewer groups than ``cv_folds``. Within a fold the TF-IDF features are fitted once on the fold's
    training part and shared by every C (they do not depend on C). Ties go to the smaller C
    (stronger regularisation).

    Args:
        config: a baseline config.
        train: the training split (never the validation or test data).
        quiet: if False, print one line per C to stderr.
        n_jobs: processes for the folds; None means one per usable core (at most one per
            fold). The result is the same for any value.

    Returns:
        ``{"best_C", "scoring": "macro_f1", "splitter", "folds", "group_column", "n_groups",
        "results": [{"C", "mean_macro_f1", "std_macro_f1", "fold_macro_f1"}], "note"?}``.

    Raises:
        DataError: too few examples to form two folds.
    """
    settings = _settings(config)
    grid = list(settings.C_grid)
    if len(grid) == 1:
        return {
            "best_C": grid[0],
            "scoring": "macro_f1",
            "results": [],
            "note": "single C given; no search",
        }
    splitter, groups, info = _splitter(config, train)
    X = np.asarray(train.texts, dtype=object)
    y = np.asarray(train.labels, dtype=object)
    template = build_pipeline(settings, seed=config.seed)
    folds = list(splitter.split(X, y, groups))
    args = [(template, X[tr], y[tr], X[te], y[te], grid) for tr, te in folds]
    per_fold = _map_folds(args, min(len(folds), n_jobs or available_cpus()))
    scores: dict[float, list[float]] = {c: [] for c in grid}
    skipped = 0
    for fold_scores in per_fold:
        if fold_scores is None:
            skipped += 1
            continue
        for c, score in zip(grid, fold_scores):
            scores[c].append(score)
    if not scores[grid[0]]:
        raise DataError(
            train.path, "no cross-validation fold had two labels in its training part; add examples"
        )
    if skipped:
        info["note"] = (
            info.get("note", "") + f"; {skipped} fold(s) skipped (one label only)"
        ).lstrip("; ")
    results = [
        {
            "C": c,
            "mean_macro_f1": float(np.mean(scores[c])),
            "std_macro_f1": float(np.std(scores[c])),
            "fold_macro_f1": scores[c],
        }
        for c in grid
    ]
    # max() keeps the first maximum; sorting by C first makes ties go to the smallest C.
    best = max(sorted(results, key=lambda r: r["C"]), key=lambda r: r["mean_macro_f1"])
    if not quiet:
        for r in results:
            mark = "  <- chosen" if r is best else ""
            print(
                f"C={r['C']:<8g} CV macro-F1 {r['mean_macro_f1']:.3f} ± {r['std_macro_f1']:.3f}{mark}",
                file=sys.stderr,
            )
    return {"best_C": best["C"], "scoring": "macro_f1", **info, "results": results}


def fit_pipeline(
    config: TrainConfig, train: LabelledData, quiet: bool = True
) -> tuple[Pipeline, dict[str, Any]]:
    """Select C by cross-validation, then fit the pipeline on the whole training split.

    Deterministic: the same config and data give the same coefficients.

    Returns:
        ``(fitted pipeline, cv results as returned by select_C)``.
    """
    cv = select_C(config, train, quiet=quiet)
    pipeline = build_pipeline(_settings(config), C=cv["best_C"], seed=config.seed)
    _fit(pipeline, list(train.texts), list(train.labels))
    return pipeline, cv


# --- metrics ---------------------------------------------------------------------------------


def _metrics(pipeline: Pipeline, data: LabelledData, labels: Sequence[str]) -> dict[str, Any]:
    from stance.evaluation.metrics import split_scores

    # Over every label of the config, so a label never predicted counts as F1 = 0.
    return split_scores(data.labels, pipeline.predict(list(data.texts)).tolist(), labels)


# --- training entry point ----------------------------------------------------------------------


def train_baseline(
    config: TrainConfig, quiet: bool = True, data: PreparedData | None = None
) -> TrainResult:
    """Train the TF-IDF + logistic-regression baseline and save it to ``config.output_dir``.

    The directory (written atomically: a failure leaves any previous model intact) holds
    ``model.skops``, ``metadata.json`` (config, seed, data hashes and counts, library
    versions, training time, train/validation metrics, chosen C and the CV score of every C)
    and a model card ``README.md``.

    Args:
        config: a config of kind ``baseline``.
        quiet: if False, print the CV score of each C to stderr.
        data: already loaded splits (e.g. cross-validation folds held in memory); when None,
            the files in ``config.data`` are read with :func:`stance.models.training.prepare_data`.

    Returns:
        A :class:`stance.models.training.TrainResult`; ``metrics`` is ``{"train": {...},
        "validation": {...} or None}`` with ``n``, ``accuracy``, ``macro_f1``, ``per_label_f1``.

    Raises:
        ConfigError: the config is not a baseline config, or its settings leave no features.
        DataError: unreadable data, leakage, or too few examples to cross-validate.

    Example:
        >>> result = train_baseline(load_config("configs/baseline.yaml"))   # doctest: +SKIP
        >>> result.metrics["validation"]["macro_f1"]                       # doctest: +SKIP
    """
    if config.kind != "baseline":
        raise ConfigError(
            f"{config.source or 'config'}: train_baseline needs kind 'baseline', found {config.kind!r}"
        )
    if data is None:
        data = prepare_data(config)
    labels = list(config.data.labels)
    started = time.perf_counter()
    pipeline, cv = fit_pipeline(config, data.train, quiet=quiet)
    train_seconds = time.perf_counter() - started
    metrics = _split_metrics(pipeline, data, labels)
    output_dir = Path(config.output_dir)
    meta = _save_model_dir(output_dir, config, data, labels, pipeline, cv, metrics, train_seconds)
    if not quiet:
        print(
            f"baseline trained in {train_seconds:.1f}s (C={cv['best_C']:g}); saved to {output_dir}",
            file=sys.stderr,
        )
    return TrainResult(
        model_dir=output_dir,
        kind="baseline",
        metrics=metrics,
        train_seconds=train_seconds,
        metadata=meta,
    )


def _split_metrics(pipeline: Pipeline, data: PreparedData, labels: Sequence[str]) -> dict[str, Any]:
    """Training step 2: the fitted pipeline's scores on the train and validation splits."""
    return {
        "train": _metrics(pipeline, data.train, labels),
        "validation": _metrics(pipeline, data.validation, labels)
        if data.validation is not None
        else None,
    }


def _save_model_dir(
    output_dir: Path,
    config: TrainConfig,
    data: PreparedData,
    labels: list[str],
    pipeline: Pipeline,
    cv: dict[str, Any],
    metrics: dict[str, Any],
    train_seconds: float,
) -> dict[str, Any]:
    """Training step 3: write the model directory atomically; return its metadata."""
    import skops.io as sio

    union = pipeline.named_steps["features"]
    n_features = {name: len(vec.vocabulary_) for name, vec in union.transformer_list}
    val_probs = (  # held-out probabilities for the calibrator
        BaselinePredictor(pipeline, labels).predict_proba(data.validation.texts)
        if data.validation
        else None
    )
    with atomic_directory(output_dir) as tmp:
        # Deflate: the coefficient matrix and term arrays compress well (~10x).
        sio.dump(pipeline, tmp / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
        # Fail now, not at load time, if a library upgrade put a new type into the file.
        check_skops_types(tmp / MODEL_FILE, shown_path=output_dir / MODEL_FILE)
        calibration = fit_calibration(tmp, "baseline", val_probs, data.validation, labels)
        meta = write_metadata(
            tmp,
            kind="baseline",
            labels=labels,
            weight_files=[MODEL_FILE, *calibration_files(calibration)],
            **run_record(config, data, labels, train_seconds, metrics),
            calibration=calibration,
            C=cv["best_C"],
            cv=cv,
            n_features=n_features,
        )
        _write_card(tmp, meta, cv, n_features)
    return meta


def _write_card(
    model_dir: Path, meta: dict[str, Any], cv: dict[str, Any], n_features: dict[str, int]
) -> None:
    """Training step 4: the model card, with the baseline's description and its C search."""
    write_model_card(
        model_dir,
        meta,
        title="Stance baseline: TF-IDF n-grams + logistic regression",
        description=_CARD_DESCRIPTION.format(C=cv["best_C"], **n_features),
        limitations=_CARD_LIMITATIONS,
        extra_sections={"Choice of C (cross-validation on the training split)": _cv_markdown(cv)},
    )


_CARD_DESCRIPTION = (
    "A bag-of-n-grams baseline for the stance of quoted statements. Each quote becomes TF-IDF "
    "features (sublinear term frequency) over word n-grams ({word} features) and character "
    "n-grams within word boundaries ({char} features); a multinomial logistic regression with "
    "balanced class weights maps them to label probabilities. The regularisation strength "
    "C = {C:g} was chosen by grouped cross-validation on the training split (macro-F1). "
    "`stance explain --model DIR` lists the n-grams that weigh most for each label."
)

_CARD_LIMITATIONS = (
    "It weighs n-grams independently of their order beyond the n-gram window: negation, "
    'hedging and conditions stated far apart ("we would support it, but only if...") are '
    "often missed, so the `conditional` label is the hardest for it.",
    "Words never seen in training carry no weight (character n-grams soften this for "
    "spelling variants only).",
)


def _cv_markdown(cv: dict[str, Any]) -> str:
    if not cv.get("results"):
        return cv.get("note", "No search.")
    head = (
        f"{cv.get('splitter', '?')} with {cv.get('folds', '?')} folds over `{cv.get('group_column', '?')}` "
        f"({cv.get('n_groups', '?')} groups, of which {cv.get('authored_singletons', 0)} "
        "single authored statements), scored by macro-F1. "
        f"Chosen C = {cv['best_C']:g}."
    )
    rows = ["| C | mean macro-F1 | std |", "|---|---|---|"]
    rows += [
        f"| {r['C']:g} | {r['mean_macro_f1']:.3f} | {r['std_macro_f1']:.3f} |"
        for r in cv["results"]
    ]
    note = f"\n\nNote: {cv['note']}" if cv.get("note") else ""
    return head + "\n\n" + "\n".join(rows) + note


# --- safe loading ----------------------------------------------------------------------------


def _schema_types(path: Path) -> tuple[set[str], set[str]]:
    """The fully qualified types and the skops node kinds named in a skops file's schema."""
    with zipfile.ZipFile(path) as zf:
        schema = json.loads(zf.read("schema.json"))
    types: set[str] = set()
    loaders: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node:
                types.add(f"{node.get('__module__', '?')}.{node['__class__']}")
                loaders.add(str(node.get("__loader__", "?")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types, loaders


def check_skops_types(path: str | Path, shown_path: str | Path | None = None) -> None:
    """Refuse a skops file that contains anything outside :data:`TRUSTED_TYPES`.

    Two independent checks: every type named in the file's schema must be in the list (and
    stored by a known node kind), and skops' own :func:`skops.io.get_untrusted_types` must
    report nothing outside the list.

    Args:
        path: the skops file.
        shown_path: the path to name in messages (e.g. the final model directory when the
            file is still in a temporary one).

    Raises:
        ModelError: naming the file and the untrusted types, or saying it is not a skops file.
    """
    import skops.io as sio

    path = Path(path)
    shown = shown_path or path
    try:
        types, loaders = _schema_types(path)
        reported = set(sio.get_untrusted_types(file=path))
    except (
        zipfile.BadZipFile,
        KeyError,
        json.JSONDecodeError,
        UnicodeDecodeError,
        ValueError,
    ) as exc:
        raise ModelError(f"{shown}: not a readable skops file ({exc}); retrain the model") from None
    untrusted = sorted((types | reported) - set(TRUSTED_TYPES))
    odd_loaders = sorted(loaders - _TRUSTED_LOADERS)
    if untrusted or odd_loaders:
        found = ", ".join(untrusted + [f"node kind {x}" for x in odd_loaders])
        raise ModelError(
            f"{shown}: refusing to load untrusted type(s): {found}. A baseline model may only "
            f"contain: {', '.join(TRUSTED_TYPES)}. The file was not written by `stance train`; "
            "retrain the model rather than trusting it"
        )


def _load_pipeline(path: Path) -> Pipeline:
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    check_skops_types(path)
    try:
        pipeline = sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises assorted errors on crafted or damaged files
        raise ModelError(
            f"{path}: could not be loaded with skops ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(pipeline, Pipeline) or "clf" not in pipeline.named_steps:
        raise ModelError(
            f"{path}: expected a baseline Pipeline (features + clf), found {type(pipeline).__name__}"
        )
    return pipeline


class BaselinePredictor(Predictor):
    """A loaded baseline: probabilities in the column order of ``metadata["labels"]``.

    Usually obtained through ``stance.load("models/baseline")``.

    Attributes:
        pipeline: the fitted scikit-learn pipeline.
    """

    kind = "baseline"

    def __init__(
        self,
        pipeline: Pipeline,
        labels: Sequence[str],
        model_dir: str | Path | None = None,
        metadata: dict | None = None,
    ):
        super().__init__(labels, model_dir, metadata)
        self.pipeline = pipeline
        classes = [str(c) for c in pipeline.classes_]
        unknown = sorted(set(classes) - set(self.labels))
        if unknown:
            where = Path(model_dir) / MODEL_FILE if model_dir is not None else "pipeline"
            raise ModelError(
                f"{where}: the classifier knows label(s) {', '.join(unknown)} that metadata.json does not "
                f"list ({', '.join(self.labels)}); the model directory is inconsistent - retrain it"
            )
        # Column j of the pipeline's output goes to column _columns[j] of ours. A label the
        # classifier never saw (possible for a model trained on a fold) gets probability 0.
        self._columns = np.array([self.labels.index(c) for c in classes])

    @classmethod
    def from_dir(
        cls, model_dir: Path, metadata: dict[str, Any], **options: Any
    ) -> BaselinePredictor:
        """Load ``model_dir/model.skops`` after checking its checksum and its types.

        Args:
            model_dir: a baseline model directory.
            metadata: its parsed ``metadata.json``.
            **options: ``device`` and ``precision`` are accepted and ignored (a scikit-learn
                model runs on the CPU in float64), so the same call loads either model kind.

        Raises:
            ModelError: checksum mismatch, a missing file, or an untrusted type in the file
                (the message names the file).
            TypeError: any other option (a typo such as ``devcie`` is not ignored silently).
        """
        unknown = sorted(set(options) - {"device", "precision"})
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(unknown)} for a baseline model "
                "(allowed, and ignored: device, precision)"
            )
        model_dir = Path(model_dir)
        verify_checksums(model_dir, metadata)
        pipeline = _load_pipeline(model_dir / MODEL_FILE)
        return cls(pipeline, metadata["labels"], model_dir=model_dir, metadata=metadata)

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(self.labels))``, rows summing to 1.

        ``batch_size`` bounds how many texts are vectorised at once; results do not depend on it.
        """
        texts = list(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        step = max(int(batch_size), 1)
        for start in range(0, len(texts), step):
            out[start : start + step, self._columns] = self.pipeline.predict_proba(
                texts[start : start + step]
            )
        return out


# --- explanation -----------------------------------------------------------------------------


def explain(model_dir: str | Path, top: int = 20) -> dict[str, list[tuple[str, float]]]:
    """The n-grams that push hardest toward each label.

    For each label, the features with the largest positive logistic-regression coefficient
    for that label (for two labels, the positive and negative ends of the single
    coefficient row). Names are prefixed ``word:`` (word n-gram) or ``char:`` (character
    n-gram, which may start or end with a space marking a word boundary).

    Args:
        model_dir: a baseline model directory.
        top: how many n-grams per label.

    Returns:
        ``{label: [(ngram, weight), ...]}`` in ``metadata["labels"]`` order, weights descending.

    Raises:
        ModelError: the directory holds a transformer (explain is for the baseline) or is broken.

    Example:
        >>> explain("models/baseline", top=2)       # doctest: +SKIP
        {'support': [('word:best', 1.4), ('char:vangu', 0.9)], 'oppose': [...], 'conditional': [...]}
    """
    if top < 1:
        raise ValueError(f"top must be a positive integer, found {top!r}")
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    if meta["kind"] != "baseline":
        raise ModelError(
            f"{model_dir}: holds a {meta['kind']} model; explain works only for the baseline "
            "(TF-IDF + logistic regression), e.g. `stance explain --model models/baseline`"
        )
    predictor = BaselinePredictor.from_dir(model_dir, meta)
    pipeline = predictor.pipeline
    names = []
    for name, vectorizer in pipeline.named_steps["features"].transformer_list:
        names += [f"{name}:{term}" for term in vectorizer.get_feature_names_out()]
    names_arr = np.asarray(names, dtype=object)
    clf = pipeline.named_steps["clf"]
    classes = [str(c) for c in clf.classes_]
    coef = np.asarray(clf.coef_)
    if coef.shape[0] == 1:  # binary: one row, positive toward classes[1]
        coef = np.vstack([-coef[0], coef[0]])
    result: dict[str, list[tuple[str, float]]] = {}
    for label in predictor.labels:
        if label not in classes:
            result[label] = []  # never seen in training: nothing pushes toward it
            continue
        row = coef[classes.index(label)]
        # Stable sort on -weight, so equal weights keep vocabulary order (deterministic output).
        order = np.argsort(-row, kind="stable")[:top]
        result[label] = [(str(names_arr[i]), float(row[i])) for i in order if row[i] > 0]
    return result
