"""stance: is a quoted speaker for, against, or conditionally for NHS England's new care models?

The package is light to import: torch, transformers, datasets and scikit-learn are only
imported when a model is loaded or trained. The public names below are resolved lazily.

Example:
    >>> from stance import predict                                  # doctest: +SKIP
    >>> predict("Federations gave us control without losing our lists.")  # doctest: +SKIP
    Prediction(label='support', scores={...}, confidence=0.91)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "predict": "stance.inference.predictor",
    "load": "stance.inference.predictor",
    "Prediction": "stance.inference.predictor",
    "Predictor": "stance.inference.predictor",
    "LABELS": "stance.constants",
    "StanceError": "stance.errors",
}

__all__ = ["__version__", "predict", "load", "Prediction", "Predictor", "LABELS", "StanceError"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from stance.constants import LABELS
    from stance.errors import StanceError
    from stance.inference.predictor import Prediction, Predictor, load, predict


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # cache: the next lookup skips __getattr__
        return value
    raise AttributeError(f"module 'stance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
