"""Models: backbones, the TF-IDF baseline, transformer fine-tuning, ensembles of trained models,
training dispatch, model directories on disk (`artifacts`) and model cards.

Modules: `backbone`, `baseline`, `transformer`, `hf_trainer`, `precision`, `ensemble`,
`training`, `artifacts`, `model_card`. Importing this package imports no numerical library; each module
imports torch or scikit-learn itself, when used.
"""

__all__ = [
    "artifacts",
    "backbone",
    "baseline",
    "ensemble",
    "hf_trainer",
    "model_card",
    "precision",
    "training",
    "transformer",
]
