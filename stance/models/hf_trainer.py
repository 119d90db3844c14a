"""Hugging Face ``Trainer`` pieces behind :func:`stance.models.transformer.train_transformer`.

This module imports torch and transformers at the top, so only the training code imports it
(never ``import stance``, never loading a model for prediction).

- :class:`StanceTrainer`: the Trainer with a class-weighted cross-entropy loss (mixed with a
  teacher's probabilities when distilling, :mod:`stance.models.distill`), optional layer-wise
  learning-rate decay (parameter groups by depth) and optional freezing of the lower layers for
  the first epochs.
- :class:`EpochReporter`: records per-epoch train loss and validation metrics (always) and, on
  the terminal, shows a tqdm bar per epoch and a one-line summary (only when asked to, and
  only on the main process).
- :func:`layer_depth` / :func:`count_layers`: where a parameter sits in the network, from its
  name (embeddings 0, encoder layer ``i`` at ``i + 1``, the head above the top layer).
- :func:`freeze_lower_layers`: keep the embeddings and the lowest encoder layers out of training
  for good, so that backward stops above them.
- :func:`longest_first` / :func:`in_dataset_order`: evaluation runs over the rows longest first
  (little padding) and hands its output back in dataset order.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn
from transformers import Trainer, TrainerCallback

from stance.models.distill import TEACHER_KEY

__all__ = [
    "StanceTrainer",
    "EpochReporter",
    "distillation_loss",
    "layer_depth",
    "count_layers",
    "freeze_lower_layers",
    "longest_first",
    "in_dataset_order",
]

# Encoder blocks are named "...layer.3...", "...layers.3...", "...h.3...", "...block.3..." in
# the common architectures (BERT/RoBERTa/DeBERTa/DistilBERT/ELECTRA, GPT-style, T5-style).
_LAYER_RE = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")


def count_layers(names: Iterable[str]) -> int:
    """Number of encoder blocks, from parameter names (0 if none is recognised)."""
    indices = [int(m.group(1)) for n in names if (m := _LAYER_RE.search("." + n))]
    return max(indices) + 1 if indices else 0


def layer_depth(name: str, num_layers: int) -> int:
    """Depth of a parameter: 0 for embeddings, ``i + 1`` for encoder block ``i``, ``num_layers + 1``
    for everything above (pooler, classifier head, final norms).

    Example:
        >>> layer_depth("bert.encoder.layer.5.output.dense.weight", 6), layer_depth("classifier.bias", 6)
        (6, 7)
    """
    match = _LAYER_RE.search("." + name)
    if match:
        return int(match.group(1)) + 1
    if any("embed" in part for part in name.split(".")):
        return 0
    return num_layers + 1


def freeze_lower_layers(model: nn.Module, count: int) -> None:
    """Turn off ``requires_grad`` for the embeddings, the ``count`` lowest encoder blocks and
    whatever else runs before the first trained block.

    Unlike the frozen epochs (gradients dropped after backward), autograd then records nothing
    below the lowest trained block, and that is what saves time. "Whatever else" is found by
    running the model once, because names do not tell where a module runs: MPNet's
    ``encoder.relative_attention_bias`` runs before block 0 and feeds every block (left
    trainable, it would pull backward through the frozen blocks), while a final
    ``encoder.LayerNorm`` (XLM-RoBERTa-XL) runs after the top block and keeps training.
    0 changes nothing.
    """
    if count <= 0:
        return
    named = list(model.named_parameters())
    num_layers = count_layers(n for n, _ in named)
    early = _modules_run_before_block(model, count)
    for name, param in named:
        if layer_depth(name, num_layers) <= count or name.rpartition(".")[0] in early:
            param.requires_grad_(False)


def _modules_run_before_block(model: nn.Module, block: int) -> set[str]:
    """Names of the modules that a forward pass runs before encoder block ``block`` starts (or,
    with no such block, before the top block ends), from one pass on a dummy input."""
    order: list[str] = []
    hooks = [
        module.register_forward_pre_hook(lambda *_, name=name: order.append(name))
        for name, module in model.named_modules()
        if name
    ]
    training = model.training
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    device = next(model.parameters()).device
    ids = torch.full((1, 8), min(5, max(vocab - 1, 0)), dtype=torch.long, device=device)
    try:
        model.eval()  # no dropout: the pass must not draw from the training RNG
        with torch.no_grad():
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
    except Exception as exc:  # any architecture's own error: say which setting needs it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"transformer.freeze_lower_layers: a trial pass to find what runs below block "
            f"{block} failed ({first}); set freeze_lower_layers: 0 for this backbone"
        ) from exc
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    depths = [_block_of(name) for name in order]
    cut = next((i for i, d in enumerate(depths) if d == block), None)
    if cut is None:  # only the head trains: everything up to the end of the top block
        cut = max((i + 1 for i, d in enumerate(depths) if d == block - 1), default=len(order))
    return set(order[:cut])


def _block_of(module_name: str) -> int | None:
    match = _LAYER_RE.search("." + module_name + ".")
    return int(match.group(1)) if match else None


def distillation_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher: torch.Tensor | None,
    weight: float,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``(1 - weight) * CE(gold, class-weighted) + weight * CE(teacher probabilities)``.

    With ``weight`` 0 (or no teacher) it is the plain class-weighted cross-entropy. The soft
    term is the cross-entropy against the teacher's distribution, which differs from the
    KL divergence only by the teacher's entropy, a constant for the student.
    ``label_smoothing`` (torch's definition) softens the gold term's targets: each becomes
    ``1 - s`` on the gold label plus ``s / num_labels`` on every label.
    """
    cw = None if class_weights is None else class_weights.to(logits.device, logits.dtype)
    logits = logits.view(-1, logits.size(-1))
    hard = nn.functional.cross_entropy(
        logits, labels.view(-1), weight=cw, label_smoothing=label_smoothing
    )
    if teacher is None or weight <= 0.0:
        return hard
    soft = -(teacher.to(logits.dtype) * nn.functional.log_softmax(logits, dim=-1)).sum(-1).mean()
    return (1.0 - weight) * hard + weight * soft


def longest_first(rows: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of encoded rows from the longest to the shortest (ties in row order): batches of
    similar length, so dynamic padding adds few tokens.

    Example:
        >>> longest_first([{"input_ids": [1, 2]}, {"input_ids": [1, 2, 3]}, {"input_ids": [4, 5]}])
        [1, 0, 2]
    """
    return sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))


def in_dataset_order(values: Any, order: Sequence[int]) -> Any:
    """Put back in dataset order what was computed in ``order`` (row ``k`` of ``values``
    belongs to dataset row ``order[k]``); None and non-arrays pass through.

    Example:
        >>> in_dataset_order(np.array([10, 20, 30]), [1, 2, 0]).tolist()
        [30, 10, 20]
    """
    if not isinstance(values, np.ndarray):
        return values
    if len(values) != len(order):
        raise RuntimeError(
            f"{len(values)} predictions for {len(order)} rows: cannot put them back in dataset order"
        )
    restored = np.empty_like(values)
    restored[np.asarray(order)] = values
    return restored


class StanceTrainer(Trainer):
    """The Hugging Face Trainer with the small-data practices of ``config.transformer``.

    Args:
        class_weights: one weight per label (class-index order) for the cross-entropy loss,
            or None for the plain loss.
        layerwise_lr_decay: block ``l`` (of ``L``) learns at ``lr * decay ** (L - l)``; the head
            and the top block at ``lr``, the embeddings at ``lr * decay ** L``. 1.0 = off.
        freeze_epochs: for this many first epochs only the head (and ``freeze_train_top_layers``
            top blocks) is updated.
        freeze_train_top_layers: see ``freeze_epochs``.
        distill_weight: share of the training loss given to the teacher's probabilities
            (training rows then carry them under ``TEACHER_KEY``); 0 = no distillation.
        label_smoothing: smoothing of the gold targets in training (0 = off); the validation
            loss is always computed on the plain targets.
        *args, **kwargs: passed to :class:`transformers.Trainer`.
    """

    # compute_loss returns a per-micro-batch mean, so the Trainer divides it by the number of
    # gradient-accumulation steps itself (transformers 5.x contract).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        class_weights: Sequence[float] | None = None,
        layerwise_lr_decay: float = 1.0,
        freeze_epochs: int = 0,
        freeze_train_top_layers: int = 0,
        distill_weight: float = 0.0,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.distill_weight = float(distill_weight)
        self.label_smoothing = float(label_smoothing)
        self.class_weights = (
            torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        )
        self.layerwise_lr_decay = float(layerwise_lr_decay)
        # Step -> validation logits of the evaluation at that step (kept_validation_logits).
        self._eval_logits: dict[int, np.ndarray] = {}
        self.freeze_epochs = int(freeze_epochs)
        named = list(self.model.named_parameters())
        self.num_layers = count_layers(n for n, _ in named)
        # Frozen = at or below this depth during the first freeze_epochs epochs.
        cut = self.num_layers - int(freeze_train_top_layers)
        self._frozen = (
            [p for n, p in named if layer_depth(n, self.num_layers) <= cut]
            if self.freeze_epochs
            else []
        )

    # --- loss -----------------------------------------------------------------------------

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Cross-entropy with the class weights, mixed with the teacher's soft targets when
        distilling (same signature as ``Trainer.compute_loss`` in 5.x)."""
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        teacher = inputs.pop(TEACHER_KEY, None)
        if teacher is None and model.training and self.distill_weight > 0:
            raise RuntimeError(
                f"distilling, but the training batch has no {TEACHER_KEY!r}: the rows lost the "
                "teacher's probabilities on the way to the loss"
            )
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        training = model.training
        loss = distillation_loss(
            logits, labels, teacher, self.distill_weight if training else 0.0,
            self.class_weights, self.label_smoothing if training else 0.0,
        )  # fmt: skip
        return (loss, outputs) if return_outputs else loss

    def _set_signature_columns_if_needed(self) -> None:
        # The Trainer drops row fields that model.forward does not take; the teacher's
        # probabilities are for compute_loss, so they are declared as kept.
        super()._set_signature_columns_if_needed()
        if TEACHER_KEY not in self._signature_columns:
            self._signature_columns.append(TEACHER_KEY)

    # --- freezing -------------------------------------------------------------------------

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        """One forward/backward; during the frozen epochs, drop the gradients of the lower layers.

        Dropping gradients (rather than toggling ``requires_grad``) works unchanged under
        DistributedDataParallel; AdamW skips parameters without a gradient, so frozen weights
        get neither updates, weight decay nor optimiser-state changes. It happens before
        gradient clipping, so the head's gradient norm is not diluted by the frozen layers'.
        """
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._frozen and int(self.state.epoch or 0) < self.freeze_epochs:
            for param in self._frozen:
                param.grad = None
        return loss

    # --- evaluation -----------------------------------------------------------------------

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        # transformers applies the training sampling strategy (length groups in random order)
        # to evaluation too, which permutes trainer.predict's output. One process: longest
        # first, a fixed order that pads little (on CPU a validation pass takes about half the
        # time of one in file order); predict() puts the output back in dataset order. Under
        # DDP: None, what transformers gives without length grouping, so that accelerate
        # shards the batches in order and gathers them back in order.
        if eval_dataset is None:
            return None
        if self.args.world_size <= 1:
            return longest_first(eval_dataset)
        return None

    def predict(self, test_dataset: Any, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.predict``, its predictions and labels in the order of ``test_dataset``
        (the loop runs longest first, see ``_get_eval_sampler``)."""
        out = super().predict(test_dataset, *args, **kwargs)
        order = self._get_eval_sampler(test_dataset)
        if order is None:
            return out
        return out._replace(
            predictions=in_dataset_order(out.predictions, order),
            label_ids=in_dataset_order(out.label_ids, order),
        )

    def evaluation_loop(self, dataloader: Any, description: str, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.evaluation_loop``; the logits of each evaluation during training are
        kept, by step, so that :meth:`kept_validation_logits` can hand back the kept model's
        without a second pass over the validation split."""
        out = super().evaluation_loop(dataloader, description, *args, **kwargs)
        order = self._get_eval_sampler(self.eval_dataset)
        if description == "Evaluation" and order is not None and out.predictions is not None:
            self._eval_logits[self.state.global_step] = in_dataset_order(out.predictions, order)
        return out

    def kept_validation_logits(self) -> np.ndarray | None:
        """The validation logits, in dataset order, of the model the Trainer kept at the end
        (its best checkpoint), as the evaluation at that step computed them; None when they
        were not recorded (no validation, no best checkpoint, several processes). Loading the
        checkpoint restores the very weights that evaluation used, and the batches are the
        same, so a new pass would give the same numbers."""
        if not self.args.load_best_model_at_end:
            return None
        return self._eval_logits.get(self.state.best_global_step)

    # --- optimiser ------------------------------------------------------------------------

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The Trainer's optimiser, with one parameter group per (depth, weight decay) when
        layer-wise learning-rate decay is on."""
        if self.optimizer is not None or self.layerwise_lr_decay >= 1.0:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay_names = set(self.get_decay_parameter_names(opt_model))
        base_lr = self.args.learning_rate
        groups: dict[tuple[float, float], dict[str, Any]] = {}
        for name, param in opt_model.named_parameters():
            if not param.requires_grad:
                continue
            depth = layer_depth(name, self.num_layers)
            lr = base_lr * self.layerwise_lr_decay ** max(0, self.num_layers - depth)
            wd = self.args.weight_decay if name in decay_names else 0.0
            group = groups.setdefault((lr, wd), {"params": [], "lr": lr, "weight_decay": wd})
            group["params"].append(param)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(list(groups.values()), **optimizer_kwargs)
        return self.optimizer

    def layer_learning_rates(self) -> dict[str, float]:
        """The peak learning rate of each depth (for the metadata): ``{"embeddings": ..., "layer_1": ..., "head": ...}``;
        0 where nothing trains (``freeze_lower_layers``)."""
        trained = {layer_depth(n, self.num_layers) for n, p in self.model.named_parameters()
                   if p.requires_grad}  # fmt: skip
        out = {}
        for depth in range(self.num_layers + 2):
            name = (
                "embeddings"
                if depth == 0
                else "head"
                if depth > self.num_layers
                else f"layer_{depth}"
            )
            rate = self.args.learning_rate * self.layerwise_lr_decay ** max(
                0, self.num_layers - depth
            )
            out[name] = rate if depth in trained else 0.0
        return out


class EpochReporter(TrainerCallback):
    """Per-epoch history, and (if ``show``) a one-line summary per epoch, with a live tqdm bar
    during each epoch only when ``stream`` is a terminal (a pipe or log file gets just the
    epoch lines, not carriage-return frames).

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, and when there is a validation
            split ``validation_macro_f1``, ``validation_accuracy``, ``validation_loss``.
    """

    def __init__(
        self, num_epochs: int, has_validation: bool, show: bool, stream: TextIO | None = None
    ):
        self.num_epochs = num_epochs
        self.has_validation = has_validation
        self.show = show
        self.stream = stream or sys.stderr
        self.history: list[dict[str, Any]] = []
        self._bar = None
        self._train_loss: float | None = None

    def _printing(self, state: Any) -> bool:
        return self.show and state.is_world_process_zero

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        from stance.progress import is_terminal

        if not self._printing(state) or not is_terminal(self.stream):
            return
        from tqdm.auto import tqdm

        epoch = len(self.history) + 1
        total = None
        if train_dataloader is not None:
            total = math.ceil(len(train_dataloader) / max(args.gradient_accumulation_steps, 1))
        self._bar = tqdm(
            total=total, desc=f"epoch {epoch}/{self.num_epochs}", unit="step", leave=False,
            file=self.stream, dynamic_ncols=True,
        )  # fmt: skip

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        # logging_strategy="epoch": the train loss of the epoch arrives just before evaluation.
        if logs and "loss" in logs:
            self._train_loss = float(logs["loss"])
            if not self.has_validation:
                self._record(state, {})

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        self._record(
            state,
            {
                "validation_macro_f1": metrics.get("eval_macro_f1"),
                "validation_accuracy": metrics.get("eval_accuracy"),
                "validation_loss": metrics.get("eval_loss"),
            },
        )

    def on_train_end(self, args, state, control, **kwargs):
        self.on_epoch_end(args, state, control)

    def _record(self, state: Any, values: dict[str, Any]) -> None:
        entry = {"epoch": len(self.history) + 1, "train_loss": self._train_loss, **values}
        self.history.append(entry)
        if not self._printing(state):
            return
        line = f"epoch {entry['epoch']}/{self.num_epochs}: train loss {_fmt(entry['train_loss'])}"
        if self.has_validation:
            line += (
                f", validation macro-F1 {_fmt(entry.get('validation_macro_f1'))}, "
                f"accuracy {_fmt(entry.get('validation_accuracy'))}"
            )
        print(line, file=self.stream, flush=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
