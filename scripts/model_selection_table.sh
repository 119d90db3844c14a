#!/usr/bin/env bash
# Regenerate docs/model_selection.md from the cached predictions in docs/model_selection/preds/
# and the text in docs/model_selection_{intro,notes}.md, with every ensemble the docs discuss.
# Run from the repository root: bash scripts/model_selection_table.sh
set -euo pipefail
exec python scripts/model_selection.py table --reference minilm \
  --ensemble mpnet-bf16-3seeds=mpnet-2ep-6k-bf16+mpnet-2ep-6k-bf16-seed7+mpnet-2ep-6k-bf16-seed11 \
  --ensemble mpnet-2ep-6k+minilm-6k=mpnet-2ep-6k+minilm-6k \
  --ensemble mpnet-2ep-6k+baseline-6k=mpnet-2ep-6k+baseline-6k \
  --ensemble mpnet-2ep-6k+minilm=mpnet-2ep-6k+minilm \
  --ensemble mpnet+minilm=mpnet+minilm \
  --ensemble mpnet+distilled=mpnet+distilled \
  --ensemble mpnet+baseline=mpnet+baseline \
  --ensemble minilm+baseline=minilm+baseline \
  > /dev/null
