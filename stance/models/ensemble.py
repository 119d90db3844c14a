"""Ensembles: several trained stance models whose probabilities are averaged, as one model.

Why: a training seed alone moves a fine-tuned model's macro-F1 on the real test quotes by up to
0.07 (docs/model_selection.md). Averaging the probabilities of several runs removes part of
that chance; the three-seed average of the bf16 recipe gave the best dev figure measured.

An ensemble directory::

    metadata.json      kind "ensemble", the labels, the members, the calibration summary...
    calibration.json   temperature, review threshold and held-out error rates, fitted on the
                       members' averaged raw probabilities of the validation split
    members/<name>/    one complete model directory per member (each also loads on its own,
                       and a transformer member in plain ``transformers.pipeline``)
    README.md          the model card

``metadata.json`` checksums ``calibration.json`` and every member's ``metadata.json``, which in
turn checksums that member's weights: a changed file anywhere is refused at load time.

Two ways to make one:

- :func:`build_ensemble` from models already trained (``stance ensemble``);
- :func:`train_ensemble`, for a transformer config with ``transformer.ensemble_seeds``: one
  member per seed, then :func:`build_ensemble`. Finished members are kept in a hidden folder
  beside the output until the ensemble is saved, so an interrupted run resumes where it stopped.

Example:
    >>> build_ensemble(["models/a", "models/b"], "models/ab",
    ...                validation="data/splits/validation.jsonl")        # doctest: +SKIP
    >>> stance.load("models/ab").predict("PCNs work.").label            # doctest: +SKIP
"""

from __future__ import annotations

import copy
import datetime as _dt
import gc
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig
from stance.constants import DEFAULT_BATCH_SIZE, METADATA_FILE
from stance.data.io import LabelledData, load_labelled
from stance.errors import ConfigError, ModelError
from stance.inference.predictor import Predictor, label_columns, load_uncached
from stance.models.artifacts import (
    atomic_directory,
    file_sha256,
    link_tree,
    read_metadata,
    refuse_own_data,
    verify_checksums,
    write_metadata,
)
from stance.models.training import (
    PreparedData,
    TrainResult,
    calibration_files,
    check_output_dir,
    fit_calibration,
    prepare_data,
)

__all__ = [
    "MEMBERS_DIR",
    "MEMBER_KINDS",
    "EnsemblePredictor",
    "build_ensemble",
    "load_member",
    "member_entries",
    "recorded_validation",
    "train_ensemble",
]

# Members live in DIR/members/<name>/.
MEMBERS_DIR = "members"
# What an ensemble may hold: trained single models (an ensemble of ensembles is just a bigger
# ensemble; build it from the members themselves).
MEMBER_KINDS: tuple[str, ...] = ("baseline", "transformer")


# --- prediction ------------------------------------------------------------------------------


class EnsemblePredictor(Predictor):
    """The average of its members' raw probabilities, calibrated by the ensemble's own
    calibrator (not the members'), with the ensemble's review threshold.

    Attributes:
        members: the loaded member predictors, in metadata order.
        max_length: the shortest member limit (texts longer than it are cut by some member).
        precision: the members' shared precision (``"fp32"``/``"bf16"``), None without
            transformer members, ``"mixed"`` when they differ.
    """

    kind = "ensemble"

    def __init__(
        self,
        members: Sequence[Predictor],
        labels: Sequence[str],
        model_dir: str | Path | None = None,
        metadata: dict | None = None,
    ):
        if not members:
            raise ModelError(f"{model_dir}: an ensemble needs at least one member")
        super().__init__(labels, model_dir, metadata)
        self.members = list(members)
        self._columns = [_columns(m, self.labels) for m in self.members]
        limits = [m.max_length for m in self.members if m.max_length is not None]
        self.max_length = min(limits) if limits else None
        precisions = {getattr(m, "precision", None) for m in self.members} - {None}
        self.precision = precisions.pop() if len(precisions) == 1 else (
            "mixed" if precisions else None
        )  # fmt: skip

    @classmethod
    def from_dir(cls, model_dir: Path, metadata: dict[str, Any], **options: Any) -> Predictor:
        """Load every member (``options``: ``device``, ``backend``, ``precision``, applied to
        the transformer members) after checking the ensemble's own checksums."""
        verify_checksums(model_dir, metadata)
        members = [
            load_member(model_dir / entry["dir"], options)
            for entry in member_entries(model_dir, metadata)
        ]
        return cls(members, metadata["labels"], model_dir, metadata)

    def member_probabilities(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[list[np.ndarray], int]:
        """Each member's raw probabilities in this ensemble's label order, and the most texts
        any member cut at its ``max_length``."""
        out, cut = [], 0
        for member, columns in zip(self.members, self._columns):
            probs, n_cut = member.predict_proba_counted(texts, batch_size)
            out.append(np.asarray(probs, dtype=np.float64)[:, columns])
            cut = max(cut, n_cut)
        return out, cut

    def predict_proba_counted(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[np.ndarray, int]:
        """The members' mean raw probabilities (equal weights), and the texts cut."""
        probs, cut = self.member_probabilities(texts, batch_size)
        return np.mean(probs, axis=0), cut

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        probs, cut = self.predict_proba_counted(texts, batch_size)
        self._warn_truncated(cut, len(texts))
        return probs


def load_member(member_dir: Path, options: dict[str, Any]) -> Predictor:
    """Load one member; the transformer options (``device``, ``backend``, ``precision``) go to
    transformer members only (a baseline refuses a backend, and has no device or precision)."""
    kind = read_metadata(member_dir)["kind"]
    return load_uncached(member_dir, **(options if kind == "transformer" else {}))


def _columns(member: Predictor, labels: Sequence[str]) -> np.ndarray:
    """Column indices that put a member's probabilities into the ensemble's label order."""
    return label_columns({lb: i for i, lb in enumerate(member.labels)}, labels, member.model_dir)


def member_entries(model_dir: Path, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``members`` of an ensemble's metadata, checked: each names a folder under
    ``members/`` whose ``metadata.json`` is checksummed (so no member can be swapped).

    Raises:
        ModelError: the list is missing, empty or names an unchecked or outside folder.
    """
    where = model_dir / METADATA_FILE
    entries = metadata.get("members")
    if not isinstance(entries, list) or not entries:
        raise ModelError(
            f"{where}: an ensemble must list its 'members' (found {entries!r:.60}); the file is "
            "damaged - rebuild the ensemble with `stance ensemble`"
        )
    checksums = metadata.get("checksums") or {}
    for entry in entries:
        name = entry.get("dir") if isinstance(entry, dict) else None
        if (
            not isinstance(name, str)
            or Path(name).parts[:1] != (MEMBERS_DIR,)
            or ".." in Path(name).parts
            or f"{name}/{METADATA_FILE}" not in checksums
        ):
            raise ModelError(
                f"{where}: member {entry!r:.60} must name a folder under {MEMBERS_DIR}/ whose "
                f"{METADATA_FILE} is checksummed; rebuild the ensemble with `stance ensemble`"
            )
    return entries


# --- building --------------------------------------------------------------------------------


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"[ensemble] {message}", file=sys.stderr, flush=True)


def _member_names(dirs: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    """Folder names for the members: ``names``, else each source folder's name (numbered
    where two are the same)."""
    if names is not None:
        if len(names) != len(dirs) or len(set(names)) != len(names):
            raise ModelError(
                f"expected {len(dirs)} distinct member names, found {list(names)}; give one "
                "name per member, or none"
            )
        bad = [n for n in names if not n or "/" in n or "\\" in n or n.startswith(".")]
        if bad:
            raise ModelError(f"member name {bad[0]!r} is not a plain folder name")
        return list(names)
    out: list[str] = []
    for d in dirs:
        name = d.name or "member"
        out.append(name if name not in out else f"{name}-{len(out) + 1}")
    return out


def recorded_validation(model_dir: str | Path) -> Path:
    """The validation file a trained model recorded in its metadata (the default data to
    calibrate an ensemble of it on).

    Raises:
        ModelError: none is recorded, or the file is gone or has changed since training.
    """
    meta = read_metadata(model_dir)
    path = ((meta.get("config") or {}).get("data") or {}).get("validation")
    if not path:
        raise ModelError(
            f"{model_dir}: records no validation split; give a labelled held-out file "
            "(--validation FILE), or --no-calibration"
        )
    if not Path(path).is_file():
        raise ModelError(
            f"{path}: the validation split {model_dir} was trained with is not here (run from "
            "the folder it was trained in, or give --validation FILE)"
        )
    recorded = (meta.get("data_hashes") or {}).get(path)
    if recorded and recorded != file_sha256(path):
        raise ModelError(
            f"{path}: changed since {model_dir} was trained (sha256 differs from its metadata); "
            "give the held-out file to calibrate on with --validation FILE"
        )
    return Path(path)


def _read_members(dirs: Sequence[Path], output_dir: Path) -> list[dict[str, Any]]:
    """Each member's checked metadata; refuse unknown kinds, other labels, or an output
    folder that is (or holds) a member."""
    metas = []
    for d in dirs:
        meta = read_metadata(d)
        verify_checksums(d, meta)
        if meta["kind"] not in MEMBER_KINDS:
            raise ModelError(
                f"{d}: a {meta['kind']} model cannot be a member; expected one of "
                f"{', '.join(MEMBER_KINDS)} (build from the ensemble's own members instead)"
            )
        if sorted(meta["labels"]) != sorted(metas[0]["labels"] if metas else meta["labels"]):
            raise ModelError(
                f"{d}: labels {', '.join(meta['labels'])} differ from the first member's "
                f"({', '.join(metas[0]['labels'])}); every member must predict the same labels"
            )
        resolved = d.resolve()
        if resolved == output_dir.resolve() or output_dir.resolve() in resolved.parents:
            raise ModelError(
                f"{d}: the output folder {output_dir} would replace this member; choose "
                "another output folder"
            )
        metas.append(meta)
    return metas


def _validation_probs(
    members: Sequence[Path], validation: LabelledData, labels: Sequence[str],
    options: dict[str, Any], quiet: bool,
) -> tuple[np.ndarray, list[dict[str, Any]]]:  # fmt: skip
    """The members' averaged raw probabilities of the validation texts, and each member's own
    validation scores (as recorded next to the ensemble)."""
    from stance.evaluation.metrics import encode_labels, split_scores

    gold = encode_labels(list(validation.labels), labels, "gold")
    total, scores = None, []
    for d in members:
        predictor = load_member(d, options)
        columns = _columns(predictor, labels)
        t0 = time.perf_counter()
        probs, _ = predictor.predict_proba_counted(list(validation.texts))
        probs = np.asarray(probs, dtype=np.float64)[:, columns]
        _log(
            quiet,
            f"{d.name}: {len(validation)} validation texts in {time.perf_counter() - t0:.1f}s",
        )
        scores.append(split_scores(gold, probs.argmax(axis=1), labels))
        total = probs if total is None else total + probs
        del predictor
    return total / len(members), scores


def build_ensemble(
    members: Sequence[str | Path],
    output_dir: str | Path,
    validation: LabelledData | str | Path | None,
    *,
    names: Sequence[str] | None = None,
    config: TrainConfig | None = None,
    train_seconds: float | None = None,
    quiet: bool = True,
    **options: Any,
) -> TrainResult:
    """Save the trained model folders ``members`` as one ensemble in ``output_dir`` (atomically).

    The members are copied in (hard links where possible), their raw probabilities of the
    ``validation`` texts averaged, and the ensemble's calibrator, review threshold and error
    rates fitted on that average, as training does for a single model.

    Args:
        members: trained baseline or transformer model folders (two or more, same labels).
        output_dir: where the ensemble goes; an existing stance model there is replaced only
            when the new one is complete.
        validation: labelled held-out texts (a file, or data already read) to calibrate on; it
            must not be any member's training data. None: no calibration (every prediction
            then needs review).
        names: folder names of the members (default: their folders' names).
        config: the config the members were trained from (recorded; :func:`train_ensemble`).
        train_seconds: time spent training the members (default: the sum of their own).
        quiet: no progress lines on stderr.
        **options: how to run the transformer members while calibrating (``device``,
            ``precision``), as for :func:`stance.load`.

    Returns:
        A :class:`~stance.models.training.TrainResult` of kind ``"ensemble"``.

    Raises:
        ModelError: fewer than two members, a damaged member, different labels, an ensemble as
            a member, or an output folder that is a member.
        ConfigError: the output folder holds something other than a stance model.
        DataError: an unreadable validation file.
    """
    dirs, output_dir = [Path(m) for m in members], Path(output_dir)
    if len(dirs) < 2:
        raise ModelError(f"an ensemble needs two or more member models, found {len(dirs)}")
    _refuse_repeated(dirs)
    check_output_dir(output_dir)
    metas = _read_members(dirs, output_dir)
    labels = list(metas[0]["labels"])
    member_names = _member_names(dirs, names)
    if validation is not None and not isinstance(validation, LabelledData):
        validation = load_labelled(validation, labels=labels)
    _refuse_training_data(validation, dirs, metas)
    with atomic_directory(output_dir) as tmp:
        copies = []
        for d, name in zip(dirs, member_names):
            copies.append(tmp / MEMBERS_DIR / name)
            link_tree(d, copies[-1])
        probs, member_scores = (None, [])
        if validation is not None and len(validation):
            probs, member_scores = _validation_probs(copies, validation, labels, options, quiet)
        calibration = fit_calibration(tmp, "ensemble", probs, validation, labels)
        meta = _write_ensemble_metadata(
            tmp, labels, member_names, metas, member_scores, probs, validation, calibration,
            config, train_seconds,
        )  # fmt: skip
        _write_card(tmp, meta)
    _log(quiet, f"saved an ensemble of {len(dirs)} models to {output_dir}")
    metrics = meta["metrics"]
    return TrainResult(
        model_dir=output_dir, kind="ensemble", metrics=metrics,
        train_seconds=meta["train_seconds"], metadata=meta,
    )  # fmt: skip


def _refuse_training_data(
    validation: LabelledData | None, dirs: Sequence[Path], metas: Sequence[dict[str, Any]]
) -> None:
    """Calibrating on a member's own training or test data would make its scores misleading."""
    if validation is None or not validation.path or not Path(validation.path).is_file():
        return
    for d, meta in zip(dirs, metas):
        refuse_own_data(validation.path, meta, f"member {d}", "calibrate the ensemble on")


def _write_ensemble_metadata(
    tmp: Path, labels: list[str], names: list[str], metas: list[dict[str, Any]],
    member_scores: list[dict[str, Any]], probs: np.ndarray | None,
    validation: LabelledData | None, calibration: dict[str, Any] | None,
    config: TrainConfig | None, train_seconds: float | None,
) -> dict[str, Any]:  # fmt: skip
    """``metadata.json`` of an ensemble: members (with provenance), checksums, metrics."""
    from stance.evaluation.metrics import encode_labels, split_scores

    entries = []
    for i, (name, meta) in enumerate(zip(names, metas)):
        entries.append({
            "name": name, "dir": f"{MEMBERS_DIR}/{name}", "kind": meta["kind"],
            "seed": meta.get("seed"), "backbone": _backbone_name(meta),
            "precision": ((meta.get("config") or {}).get("transformer") or {}).get("precision"),
            "train_seconds": meta.get("train_seconds"),
            "validation": member_scores[i] if member_scores else None,
        })  # fmt: skip
    metrics: dict[str, Any] = {"validation": None}
    if probs is not None and validation is not None:
        gold = encode_labels(list(validation.labels), labels, "gold")
        metrics["validation"] = split_scores(gold, probs.argmax(axis=1), labels)
    seconds = train_seconds
    if seconds is None:
        seconds = sum(float(m.get("train_seconds") or 0.0) for m in metas)
    data_hashes = dict(metas[0].get("data_hashes") or {})
    if validation is not None and validation.path and Path(validation.path).is_file():
        data_hashes[str(validation.path)] = file_sha256(validation.path)
    weight_files = [
        *calibration_files(calibration),
        *(f"{e['dir']}/{METADATA_FILE}" for e in entries),
    ]
    return write_metadata(
        tmp, kind="ensemble", labels=labels, weight_files=weight_files,
        created_utc=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        # Each member has its own seed; the config's single seed trained none of them alone.
        seed=None, seeds=[e["seed"] for e in entries],
        config=None if config is None else config.to_dict(),
        members=entries, combination="mean of the members' raw probabilities, equal weights",
        calibrated_on=None if validation is None else str(validation.path or "validation split"),
        data_hashes=data_hashes, data_counts=metas[0].get("data_counts"),
        train_seconds=round(seconds, 3), metrics=metrics, calibration=calibration,
    )  # fmt: skip


def _refuse_repeated(dirs: Sequence[Path]) -> None:
    """One model given twice would weigh double and look like two independent runs."""
    seen: dict[Path, Path] = {}
    for d in dirs:
        key = d.resolve()
        if key in seen:
            raise ModelError(
                f"{d}: given twice (first as {seen[key]}); expected distinct member models "
                "(another seed or config), each once"
            )
        seen[key] = d


def _backbone_name(meta: dict[str, Any]) -> str | None:
    """A transformer member's backbone id (``bundled:...``, a hub id or a path); None for a baseline."""
    backbone = meta.get("backbone")
    return backbone.get("name") if isinstance(backbone, dict) else backbone


def _calibration_text(meta: dict[str, Any]) -> str:
    summary = meta.get("calibration")
    if not summary:
        return "None: the scores are the raw average, and every prediction needs review."
    threshold = summary.get("review_threshold")
    review = (
        f"predictions below a calibrated confidence of {threshold:.3f} need review (target "
        f"precision {summary.get('target_precision')})"
        if threshold is not None
        else "no threshold reached the target precision, so every prediction needs review"
    )
    return (
        f"{summary.get('method')} scaling of the averaged probabilities, fitted on "
        f"`{meta.get('calibrated_on')}` ({summary.get('n')} texts): ECE {summary.get('ece_raw'):.3f} "
        f"before, {summary.get('ece_calibrated'):.3f} after (in-sample); {review}."
    )


def _write_card(tmp: Path, meta: dict[str, Any]) -> None:
    from stance.models.model_card import write_model_card
    from stance.tables import markdown_table

    rows = []
    for e in meta["members"]:
        v = e.get("validation") or {}
        f1 = f"{v['macro_f1']:.3f}" if isinstance(v.get("macro_f1"), float) else "–"
        rows.append([e["name"], e["kind"], str(e.get("backbone") or "–"), str(e.get("seed")),
                     str(e.get("precision") or "–"), f1])  # fmt: skip
    table = markdown_table(
        ["member", "kind", "backbone", "seed", "training precision", "validation macro-F1"], rows
    )
    write_model_card(
        tmp, meta,
        title=f"Stance ensemble of {len(meta['members'])} models",
        description=(
            "An ensemble: each quote goes through every member model (in `members/`), and their "
            "raw probabilities are averaged with equal weights. The ensemble's own calibrator "
            "and review threshold (`calibration.json`, fitted on the averaged validation "
            "probabilities) turn the average into the published scores. Each member folder is "
            "a complete model that also loads on its own."
        ),
        limitations=[
            "It costs one forward pass per member: as many times the time of one model.",
            "Averaging removes part of the variation between training runs, not the errors "
            "they share; measure it on held-out quotes (`stance evaluate`) before trusting a gain.",
        ],
        extra_sections={"Members": table, "Calibration": _calibration_text(meta)},
    )  # fmt: skip


# --- training --------------------------------------------------------------------------------


def _member_config(config: TrainConfig, seed: int, output_dir: Path) -> TrainConfig:
    member = copy.deepcopy(config)
    member.seed = seed
    member.output_dir = str(output_dir)
    member.transformer.ensemble_seeds = []  # type: ignore[union-attr]
    return member


def _finished(member_dir: Path, member: TrainConfig, data: PreparedData) -> bool:
    """A member saved by an interrupted run with the same config and data (reused as is)."""
    try:
        meta = read_metadata(member_dir)
        verify_checksums(member_dir, meta)
    except ModelError:
        return False
    return meta.get("config") == member.to_dict() and meta.get("data_hashes") == data.hashes


def train_ensemble(
    config: TrainConfig, quiet: bool = True, data: PreparedData | None = None
) -> TrainResult:
    """Train one transformer per seed of ``transformer.ensemble_seeds`` and save them as one
    ensemble in ``config.output_dir`` (see :func:`build_ensemble`).

    Members are trained into a hidden folder beside the output (``.<name>.members``) that is
    removed once the ensemble is saved; a member already finished there by an interrupted run,
    with the same config and data, is reused instead of retrained.

    Raises:
        ConfigError: no seeds, or a bad setting (as :func:`train_transformer`).
    """
    from stance.models.transformer import train_transformer

    seeds = list(config.transformer.ensemble_seeds) if config.transformer else []
    if len(seeds) < 2:
        raise ConfigError(
            f"{config.source or 'config'}: key 'transformer.ensemble_seeds': expected two or "
            f"more seeds, found {seeds}"
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Every rank would build the ensemble; members are small enough to train one by one.
        raise ConfigError(
            f"{config.source or 'config'}: key 'transformer.ensemble_seeds': an ensemble trains "
            "in one process; run `stance train` without torchrun (or train each seed under "
            "torchrun with --seed, then join them with `stance ensemble`)"
        )
    data = data if data is not None else prepare_data(config)
    output = Path(config.output_dir)
    check_output_dir(output)
    staging = output.parent / f".{output.name}.members"
    t0 = time.perf_counter()
    member_dirs = []
    for i, seed in enumerate(seeds, 1):
        member = _member_config(config, seed, staging / f"seed-{seed}")
        member_dirs.append(Path(member.output_dir))
        if _finished(member_dirs[-1], member, data):
            _log(quiet, f"member {i}/{len(seeds)} (seed {seed}): reusing {member_dirs[-1]}")
            continue
        _log(quiet, f"member {i}/{len(seeds)} (seed {seed}): training ...")
        train_transformer(member, quiet=quiet, data=data)
        # Whatever of a finished member's trainer and model is held only by reference cycles
        # is freed now, before the next member loads, not whenever the cyclic collector runs
        # (the accurate model's main job peaked at 7.5 GB of memory before this was added).
        gc.collect()
    result = build_ensemble(
        member_dirs, output, data.validation, names=[d.name for d in member_dirs],
        config=config, train_seconds=time.perf_counter() - t0, quiet=quiet,
        device=None if config.transformer.device == "auto" else config.transformer.device,
    )  # fmt: skip
    shutil.rmtree(staging, ignore_errors=True)
    return result
