"""The runnable PyTorch snippet each trace carries: imports, the input tensors, the call that prints.

Tensors of up to :data:`MAX_LITERAL_NUMBERS` numbers are written out exactly (float32 values with the
shortest text that reads back to the same float32); larger ones become a placeholder of the same
shape (``torch.zeros(512, 32000)``) with a comment saying to load the real data, so the snippet
still runs but prints a different number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["MAX_LITERAL_NUMBERS", "call_snippet", "keyword_arguments", "snippet"]

MAX_LITERAL_NUMBERS = 200


def keyword_arguments(
    *,
    weight: bool = False,
    pos_weight: bool = False,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    log_target: bool = False,
) -> str:
    """Keyword arguments that differ from PyTorch's defaults, as code."""
    parts = []
    if weight:
        parts.append("weight=weight")
    if pos_weight:
        parts.append("pos_weight=pos_weight")
    if ignore_index != -100:
        parts.append(f"ignore_index={ignore_index}")
    if label_smoothing:
        parts.append(f"label_smoothing={label_smoothing!r}")
    if reduction != "mean":
        parts.append(f"reduction={reduction!r}")
    if log_target:
        parts.append("log_target=True")
    return "".join(f", {part}" for part in parts)


def snippet(
    tensors: list[tuple[str, torch.Tensor | None]],
    lines: list[str],
    *,
    imports: set[str] | None = None,
) -> str:
    """A script: the imports (``imports`` names ``"torch"``, ``"F"``, ``"math"``), each tensor
    assigned to its name (a None, an option not given, is left out), then ``lines``."""
    imports = imports if imports is not None else {"torch", "F"}
    header = []
    if "math" in imports:
        header.append("import math")
    header.append("import torch")
    if "F" in imports:
        header.append("import torch.nn.functional as F")
    body = [line for name, t in tensors if t is not None for line in _assignment(name, t)]
    return "\n".join([*header, "", *body, *lines]) + "\n"


def call_snippet(
    function: str, tensors: list[tuple[str, torch.Tensor | None]], **options: Any
) -> str:
    """A snippet that prints ``function`` of the tensors: the first two by position, the others
    (``weight``, ``pos_weight``) by keyword when given, then the ``options`` that differ from
    PyTorch's defaults (see :func:`keyword_arguments`)."""
    (first, _), (second, _), *weights = tensors
    kwargs = keyword_arguments(**{name: t is not None for name, t in weights}, **options)
    return snippet(tensors, [f"print({function}({first}, {second}{kwargs}))"])


def _assignment(name: str, t: torch.Tensor) -> list[str]:
    if t.numel() <= MAX_LITERAL_NUMBERS:
        return [f"{name} = {_literal(t)}"]
    dims = ", ".join(str(n) for n in t.shape)
    dtype = "" if t.dtype == torch.float32 else f", dtype={t.dtype}"
    return [
        f"# your {'×'.join(str(n) for n in t.shape)} {name}: too many numbers to write out here;",
        "# load them with torch.load(...) or torch.from_numpy(np.load(...)).",
        f"{name} = torch.zeros({dims}{dtype})  # a placeholder of the same shape: prints another value",
    ]


def _literal(t: torch.Tensor) -> str:
    nested = _float_texts(t.numpy()) if t.is_floating_point() else t.tolist()
    dtype = ""
    if t.dtype == torch.float64:
        dtype = ", dtype=torch.float64"
    elif t.dtype not in (torch.float32, torch.long):
        dtype = f", dtype={t.dtype}"
    return f"torch.tensor({_nested(nested)}{dtype})"


def _float_texts(array: np.ndarray) -> Any:
    if array.ndim == 0:
        return _float_text(array[()])
    return [_float_texts(row) for row in array]


def _float_text(x: np.floating) -> str:
    """The shortest text that reads back (through Python's float) to exactly this value."""
    if np.isnan(x):
        return "float('nan')"
    if np.isinf(x):
        return "float('inf')" if x > 0 else "-float('inf')"
    if x.dtype == np.float64:
        return repr(float(x))
    text = str(x)  # numpy's shortest round-trip text for this float32
    if np.float32(float(text)) != x:  # double rounding through float64: spell out every digit
        text = repr(float(x))
    return text


def _nested(items: Any) -> str:
    if not isinstance(items, list):
        return str(items)
    # Each child's text is made once and used by either layout: making it again for the second
    # layout doubled the work at every level (2^depth).
    children = [_nested(item) for item in items]
    one_line = "[" + ", ".join(children) + "]"
    if len(one_line) <= 72 or not items or not isinstance(items[0], list):
        return one_line
    rows = ",\n".join("    " + child for child in children)
    return "[\n" + rows + ",\n]"
