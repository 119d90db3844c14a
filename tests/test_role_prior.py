"""The role-prior yardstick (scripts/role_prior.py): add-one smoothed label shares per role,
out-of-fold priors that never count the held-out article, and on/against-type accuracy cells
that agree with scikit-learn."""

from __future__ import annotations

import json
import re

import pytest
from sklearn.metrics import accuracy_score

from stance.constants import LABELS, ROLES
from tests.conftest import load_script


@pytest.fixture(scope="module")
def role_prior():
    return load_script("role_prior")


def test_prior_is_add_one_smoothed_label_share(role_prior):
    rows = [{"role": "bma_leader", "label": "oppose"}] * 3 + [
        {"role": "bma_leader", "label": "support"}
    ]
    prior = role_prior.role_prior(rows)
    assert set(prior) == set(ROLES)
    assert prior["bma_leader"] == pytest.approx([2 / 7, 4 / 7, 1 / 7])  # LABELS order
    assert prior["nurse"] == pytest.approx([1 / 3] * 3)  # unseen role: uniform
    assert role_prior.prior_label(prior, "bma_leader") == "oppose"
    assert LABELS == ("support", "oppose", "conditional")


def test_unknown_role_fails_loudly(role_prior):
    with pytest.raises(KeyError):
        role_prior.role_prior([{"role": "astronaut", "label": "oppose"}])


def test_seed_cv_prior_never_counts_the_held_out_article(role_prior, monkeypatch):
    seen = []
    original = role_prior.role_prior

    def recording(rows):
        seen.append({r["source"] for r in rows})
        return original(rows)

    monkeypatch.setattr(role_prior, "role_prior", recording)
    cv = role_prior.seed_cv_prior()
    corpus = role_prior._read(role_prior.CORPUS)
    seeds = [r for r in corpus if r["source"] != "authored"]
    assert sorted(r["id"] for r in cv) == sorted(r["id"] for r in seeds)
    articles = sorted({r["article"] for r in cv})
    assert len(seen) == len(articles)
    for article, sources in zip(articles, seen):
        assert article not in sources  # the fold's own quotes are not in its prior
        assert "authored" in sources and len(sources) == len(articles)  # the other four are


def test_accuracy_cells_agree_with_sklearn(role_prior):
    # (gold, predicted, prior label, group): 3 on type (2 right), 2 against type (1 right).
    items = [("oppose", "oppose", "oppose", "a"), ("oppose", "support", "oppose", "a"),
             ("support", "support", "support", "b"), ("conditional", "conditional", "oppose", "b"),
             ("support", "oppose", "oppose", "c")]  # fmt: skip
    on, off = role_prior._split_by_type(items)
    for cell, keep in ((on, lambda g, pr: g == pr), (off, lambda g, pr: g != pr)):
        part = [(g, p) for g, p, pr, _ in items if keep(g, pr)]
        expected = accuracy_score([g for g, _ in part], [p for _, p in part])
        right, n, value = re.match(r"(\d+)/(\d+) = ([0-9.]+) \[", cell).groups()
        assert int(right) / int(n) == pytest.approx(expected)
        assert float(value) == pytest.approx(expected, abs=0.005)
    assert role_prior._accuracy_cell([], [], []) == "-"


def test_committed_prior_predictions_match_the_training_split(role_prior):
    cached = json.loads((role_prior.OUT / "preds" / "role-prior.json").read_text())
    prior = role_prior.role_prior(role_prior._read(role_prior.TRAIN))
    dev = {r["id"]: r for r in role_prior._read(role_prior.SETS["dev"][0])}
    for i, probs in zip(cached["sets"]["dev"]["ids"], cached["sets"]["dev"]["probs"]):
        assert probs == pytest.approx(prior[dev[i]["role"]])
