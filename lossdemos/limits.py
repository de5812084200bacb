"""How much a loss request may carry, and which of its fields may come as ``.npy`` files.

Without torch: the API's schema and the forms read these at import time, in processes that may
never compute a loss (see :mod:`lossdemos.engine`). :mod:`lossdemos.operations` counts a request's
numbers against the JSON limit; the API and the forms give the .npy limit to ``load_npy``.
"""

from __future__ import annotations

__all__ = [
    "ENTROPY_SOURCES",
    "JSON_NUMBER_LIMIT",
    "MAX_DIMENSIONS",
    "MULTIPART_BYTE_LIMIT",
    "NPY_FIELDS",
    "NPY_NUMBER_LIMIT",
    "TRAIN_NUMBER_STEPS",
    "TRAIN_STEP_LIMIT",
]

JSON_NUMBER_LIMIT = 1_000_000
NPY_NUMBER_LIMIT = 50_000_000
# A multipart body: every .npy number at its widest (8 bytes) plus room for headers and text fields
# (a JSON target of a million numbers is ~10 MB). The API refuses a longer body unread.
MULTIPART_BYTE_LIMIT = NPY_NUMBER_LIMIT * 8 + (64 << 20)
# No loss here needs more than (N, C, d1, ..., d6); the readers refuse deeper input before any
# formatting or torch work, so a 64-deep one-number tensor costs no more than a flat one.
MAX_DIMENSIONS = 8

# Entropy reads exactly one of these.
ENTROPY_SOURCES = ("probs", "counts", "logits")

# Fields that may come as an .npy upload instead of JSON, per op.
NPY_FIELDS = {
    "softmax": ("logits",),
    "log-softmax": ("logits",),
    "entropy": ENTROPY_SOURCES,
    "nll": ("input", "target", "weight"),
    "cross-entropy": ("logits", "target", "weight"),
    "kl": ("input", "target"),
    "perplexity": ("logits", "target", "sequence_ids"),
    "bce-with-logits": ("logits", "target", "weight", "pos_weight"),
    "train": ("logits", "target", "weight"),
}

# A training run (the "train" op): at most this many steps of gradient descent, and at most this
# many logits × steps (each step is a forward and a backward pass: ~1 s on one core at the limit).
TRAIN_STEP_LIMIT = 500
TRAIN_NUMBER_STEPS = 20_000_000
