"""The labelling loop: find label errors, pick what to label next, label it, measure the gain.

- :mod:`~stance.labelling.folds`: out-of-fold probabilities from grouped cross-validation.
- :mod:`~stance.labelling.review`: likely label errors (cleanlab) in a labelled file.
- :mod:`~stance.labelling.suggest`: the most useful unlabelled quotes, uncertain and diverse.
- :mod:`~stance.labelling.annotate`: the terminal labelling session (saved after every answer).
- :mod:`~stance.labelling.merge`: new labels into a corpus, refusing duplicates and leakage.
- :mod:`~stance.labelling.curve`: learning curves over growing fractions of the training data.

Submodules are imported on use, so ``import stance`` stays light.
"""

__all__ = ["folds", "review", "suggest", "annotate", "merge", "curve"]
