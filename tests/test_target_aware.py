"""The target-aware screen's input (scripts/target_aware.py): every reform has a short
description from the guidelines, and the written files differ from the originals only in the
text, which gains that prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stance.constants import REFORMS, ROLES
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def target_aware():
    return load_script("target_aware")


def test_every_reform_has_a_short_description(target_aware):
    found = target_aware.reform_descriptions()
    assert set(found) == set(REFORMS)
    assert found["polyclinic"] == "polyclinics"
    assert all("(" not in d and "," not in d and 0 < len(d) < 90 for d in found.values())


def test_with_target_prefixes_only_texts_with_a_reform(target_aware):
    d = {"pcn": "primary care networks"}
    assert target_aware.with_target("It works.", "pcn", d) == "primary care networks: It works."
    assert target_aware.with_target("It works.", None, d) == "It works."
    with pytest.raises(
        SystemExit, match="unknown value 'pcns'; expected one of pcn \\(data/GUIDELINES"
    ):
        target_aware.with_target("It works.", "pcns", d)


def test_written_files_only_change_the_text(target_aware, tmp_path):
    config = target_aware.write(tmp_path)
    assert config.exists() and "models/transformer-target-aware" in config.read_text()
    descriptions = target_aware.reform_descriptions()
    src = [json.loads(x) for x in (ROOT / "data/splits/test.jsonl").read_text().splitlines()]
    out = [json.loads(x) for x in (tmp_path / "test.jsonl").read_text().splitlines()]
    assert len(src) == len(out)
    for a, b in zip(src, out):
        assert b["text"] == f"{descriptions[a['reform']]}: {a['text']}"
        assert {k: v for k, v in a.items() if k != "text"} == {
            k: v for k, v in b.items() if k != "text"
        }


def test_every_role_has_a_short_description(target_aware):
    found = target_aware.descriptions("role")
    assert set(found) == set(ROLES)
    assert found["nhs_england"] == "NHS England officials and directors"
    assert found["ccg_leader"] == "CCG chairs"  # parenthetical and later parts dropped
    assert all("(" not in d and "," not in d and 0 < len(d) < 90 for d in found.values())
    with pytest.raises(SystemExit, match="unknown field 'speaker'; expected one of"):
        target_aware.descriptions("speaker")


def test_role_screen_prefixes_the_role_and_starts_from_the_default(target_aware, tmp_path):
    config = target_aware.write(tmp_path, field="role")
    text = config.read_text()
    assert config.name == "transformer-role-aware.yaml" and "from transformer.yaml" in text
    assert "models/transformer-role-aware" in text and "precision: fp32" in text
    roles = target_aware.descriptions("role")
    src = [json.loads(x) for x in (ROOT / "data/dev_positions.jsonl").read_text().splitlines()]
    # The dev set is not written (never trained on); the model-selection script prefixes it.
    assert not (tmp_path / "dev_positions.jsonl").exists()
    row = src[0]
    assert target_aware.with_prefix(row["text"], row["role"], roles).startswith(
        f"{roles[row['role']]}: "
    )
    test_src = [json.loads(x) for x in (ROOT / "data/splits/test.jsonl").read_text().splitlines()]
    test_out = [json.loads(x) for x in (tmp_path / "test.jsonl").read_text().splitlines()]
    for a, b in zip(test_src, test_out):
        assert b["text"] == f"{roles[a['role']]}: {a['text']}"


def test_an_unknown_value_in_a_file_names_the_file_line_and_field(target_aware, tmp_path):
    src = tmp_path / "rows.jsonl"
    rows = [{"text": "It works.", "role": "nurse"}, {"text": "No.", "role": "astronaut"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(SystemExit, match=rf"{src}:2: role: unknown value 'astronaut'"):
        target_aware._prefix_file(src, tmp_path / "out.jsonl", "role", {"nurse": "nurses"})
