"""Numeric precision of transformer training and inference: fp32, or bfloat16 where it is fast.

bfloat16 halves the bytes every matrix multiplication moves. It is only worth it where the
hardware multiplies bfloat16 natively: Intel CPUs with AMX (Sapphire Rapids and later), CUDA GPUs
of compute capability 8.0 and above. Elsewhere it is emulated and slower than fp32, so ``auto``
chooses it only there. ``avx512_bf16`` alone is not enough: on such a 2-core CPU without AMX,
bfloat16 inference ran at 0.64x the speed of fp32 (docs/benchmarks.md).

- Training (``transformer.precision``, default ``fp32``): ``bf16`` is mixed precision (the
  Trainer's autocast): the weights and the optimiser stay fp32, only the matrix products run in
  bfloat16. It trained the default mpnet config 1.4x faster on 2 AMX cores, but it trains a
  different model, as another seed would (docs/model_selection.md, ``mpnet-2ep-6k-bf16``), so
  it is opt-in: ``configs/transformer-bf16.yaml``.
- Inference (``stance.load(..., precision=)``, ``stance predict --precision``, default
  ``auto``): ``bf16`` casts the loaded weights to bfloat16. On the 337 real quotes of the dev
  and test sets it gave the fp32 label on every quote (largest probability difference 0.03) at
  3.7x the throughput on 2 AMX cores (docs/benchmarks.md). ``precision="fp32"`` reproduces the
  fp32 numbers exactly.
"""

from __future__ import annotations

from typing import Any

from stance.constants import PRECISIONS

__all__ = ["PRECISIONS", "bf16_is_native", "check_precision", "resolve_precision"]


def check_precision(value: Any, where: str = "precision") -> str:
    """``value`` if it is one of :data:`PRECISIONS`, else a ValueError listing them."""
    if value not in PRECISIONS:
        raise ValueError(f"{where} must be one of {', '.join(PRECISIONS)}, found {value!r}")
    return value


def bf16_is_native(device: str) -> bool:
    """Whether ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) multiplies bfloat16 in
    hardware, so that bfloat16 is faster than fp32 there."""
    import torch

    kind = str(device).split(":")[0]
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        # Private probes, hence getattr: a torch without them is treated as "not native".
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        return bool(amx is not None and bf16 is not None and amx() and bf16())
    return False


def resolve_precision(setting: str, device: str) -> str:
    """``"fp32"`` or ``"bf16"``: ``auto`` is bf16 where :func:`bf16_is_native`, else fp32.

    ``bf16`` is honoured even where it is emulated (slow but correct), because the user asked.
    """
    check_precision(setting)
    if setting == "auto":
        return "bf16" if bf16_is_native(device) else "fp32"
    return setting
