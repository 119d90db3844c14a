"""The EM prior-adaptation screen (scripts/prior_adaptation.py): it recovers known label shares
from Bayes-correct probabilities, and leaves a batch at the training shares alone."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def screen():
    return load_script("prior_adaptation")


def test_em_recovers_known_shares_from_bayes_correct_probabilities(screen):
    # Three classes with Gaussian scores (means 0, 2, 4; sd 1); probabilities are the exact
    # posteriors under equal class shares, as a calibrated model trained balanced would give.
    rng = np.random.default_rng(0)
    truth = np.array([0.6, 0.25, 0.15])
    labels = rng.choice(3, size=20_000, p=truth)
    x = rng.normal(2.0 * labels, 1.0)
    likelihood = np.exp(-0.5 * (x[:, None] - np.array([0.0, 2.0, 4.0])) ** 2)
    probs = likelihood / likelihood.sum(axis=1, keepdims=True)
    adapted, shares = screen.adapt(probs, np.full(3, 1 / 3))
    assert shares == pytest.approx(truth, abs=0.02)
    assert adapted.sum(axis=1) == pytest.approx(np.ones(len(x)))
    # Re-weighting by the recovered shares makes more quotes the common label, never fewer.
    assert (adapted.argmax(1) == 0).sum() >= (probs.argmax(1) == 0).sum()


def test_a_batch_at_the_training_shares_is_left_alone(screen):
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    adapted, shares = screen.adapt(probs, np.full(3, 1 / 3))
    assert shares == pytest.approx(np.full(3, 1 / 3))
    assert adapted == pytest.approx(probs)


def test_batches_are_adapted_separately(screen):
    probs = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.4, 0.6, 0.0], [0.4, 0.6, 0.0]]) + 1e-9
    together = screen._adapt_batches(probs, [0, 0, 0, 0])
    apart = screen._adapt_batches(probs, [0, 0, 1, 1])
    assert apart[:2] == pytest.approx(screen.adapt(probs[:2], np.full(3, 1 / 3))[0])
    assert not np.allclose(together, apart)
