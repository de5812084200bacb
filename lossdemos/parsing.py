"""User input → tensors: pasted text, decoded JSON and .npy uploads, with errors that say where.

No Django here. Every failure is an :class:`InputError` carrying a sentence a learner can act on and a
``location`` such as ``{"field": "logits", "row": 3, "column": 1}``; :class:`TooMany` is the subclass
the web layer answers with 413. No other exception escapes these functions.

Text that :func:`parse_tensor` reads:

- JSON-style nested lists ``[[2, 1, 0.1], [1, 2.5, 0.5]]``; numpy's ``str`` form without commas
  ``[[2. 1. 0.1] [1. 2.5 0.5]]`` is read the same way;
- pasted PyTorch or numpy output: ``tensor([[2.0000, 1.0000]], requires_grad=True)``,
  ``tensor(2.5000, dtype=torch.float64)``, ``array([1., 2.], dtype=float32)``, with an optional
  ``Parameter containing:`` line before it;
- plain rows: values separated by spaces, commas, semicolons or tabs, one row per line (blank lines
  skipped); a single line is a 1-D tensor. Semicolons separate values, like commas — they do not start
  a new row;
- ``nan``, ``inf``, ``-inf`` (also ``NaN``/``Infinity``), scientific notation, full-width Chinese
  punctuation (``，`` ``；`` ``　`` ``［］`` ``【】`` ``（）`` ``、``) and full-width digits.

Speed: the structure (brackets, rows, separators) is found with a few vectorised numpy passes over the
bytes, and the numbers are converted by one ``np.fromstring`` call; the per-token Python loop runs only
to locate an error.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import torch

from kb.messages import Text, gettext_noop
from lossdemos.errors import InputError, TooMany
from lossdemos.limits import MAX_DIMENSIONS

__all__ = [
    "InputError",
    "TooMany",
    "load_npy",
    "parse_json_tensor",
    "parse_target",
    "parse_tensor",
]


# --- text -------------------------------------------------------------------------------------

# NFKC already maps full-width ASCII (，；［］（）０-９) and the ideographic space to ASCII.
_CJK_PUNCTUATION = str.maketrans(
    {"【": "[", "】": "]", "〔": "[", "〕": "]", "、": ",", "−": "-", "﹣": "-"}
)

# Bytes that end a number: whitespace and control bytes (<= 32), ',', ';', '[' and ']'.
# bytes.translate with these tables classifies every byte in one C pass (a numpy bool view).
_SEPARATORS = bytes(range(33)) + b",;[]"
_IS_NUMBER = bytes(0 if i in _SEPARATORS else 1 for i in range(256))
_IS_BRACKET = bytes(1 if i in b"[]" else 0 for i in range(256))
_OPEN, _NEWLINE = b"[\n"
_TO_SPACES = bytes.maketrans(b"\t\r\n\f\v,;[]", b" " * 9)
_WHITESPACE = b" \t\r\n\f\v"

_WRAPPER = re.compile(r"(?:torch\.|np\.|numpy\.)?(?:tensor|array)\s*\(")
_WRAPPER_TAIL = re.compile(r"\s*(?:,[^\[\]]*)?\)\s*")
_PARAMETER_PREFIX = re.compile(r"Parameter containing:\s*")


def parse_tensor(
    text: str, *, field: str, dtype: torch.dtype = torch.float32, max_numbers: int = 1_000_000
) -> torch.Tensor:
    """Read a tensor from pasted text (formats in the module docstring).

    ``dtype=torch.long`` (or another integer dtype) demands whole numbers:
    ``"target 1.5 is not a whole number"``.
    """
    if not isinstance(text, str):
        raise InputError(
            Text.of(gettext_noop("the %(field)s must be text"), field=field), field=field
        )
    text = _normalise(text)
    body, scalar = _unwrap(text, field)
    if "..." in body:
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s were abbreviated with '...' when printed; print them in full "
                    "(torch.set_printoptions(profile='full')) or upload a .npy file"
                ),
                field=field,
            ),
            field=field,
        )
    values, shape = _read_numbers(body.encode("utf-8"), field, max_numbers)
    return _to_tensor(values.reshape(() if scalar else shape), field, dtype)


def _normalise(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_CJK_PUNCTUATION)
    return text.strip()


def _unwrap(text: str, field: str) -> tuple[str, bool]:
    """Strip ``tensor(...)`` / ``array(...)`` and their keyword arguments from pasted output.

    Returns the text of the numbers and whether it was a 0-d ``tensor(2.5)``.
    """
    text = _PARAMETER_PREFIX.sub("", text, count=1) if text.startswith("Parameter") else text
    wrapper = _WRAPPER.match(text)
    if wrapper is None:
        return text, False
    inner = text[wrapper.end() :]
    if "[" not in inner:  # a 0-d tensor: tensor(2.5000) or tensor(2.5000, dtype=torch.float64)
        scalar = re.match(r"\s*([^,()\s]*)\s*(?:,[^()]*)?\)\s*$", inner)
        if scalar is None or not scalar.group(1):
            raise InputError(
                Text.of(
                    gettext_noop("could not read the pasted tensor in the %(field)s"), field=field
                ),
                field=field,
            )
        return scalar.group(1), True
    start, end = inner.index("["), inner.rindex("]") + 1
    if inner[:start].strip() or not _WRAPPER_TAIL.fullmatch(inner[end:]):
        raise InputError(
            Text.of(
                gettext_noop(
                    "could not read the pasted tensor in the %(field)s: unexpected text around "
                    "the numbers"
                ),
                field=field,
            ),
            field=field,
        )
    return inner[start:end], False


def _read_numbers(data: bytes, field: str, max_numbers: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Find the shape from brackets or lines, then convert every number in one call."""
    byte = np.frombuffer(data, dtype=np.uint8)
    is_number = np.frombuffer(data.translate(_IS_NUMBER), dtype=np.bool_)
    edges = np.flatnonzero(is_number[1:] != is_number[:-1]) + 1
    if len(data) and is_number[0]:
        edges = np.concatenate(([0], edges))
    if len(edges) % 2:
        edges = np.concatenate((edges, [len(data)]))
    starts, ends = edges[0::2], edges[1::2]
    if len(starts) > max_numbers:
        raise TooMany(
            _too_many(len(starts), max_numbers),
            field=field,
            count=len(starts),
            limit=max_numbers,
        )
    if len(starts) == 0:
        raise InputError(_empty(field), field=field)
    squeezed = data.translate(None, delete=_WHITESPACE)
    if b",," in squeezed or b"[," in squeezed or squeezed.startswith(b","):
        raise InputError(
            Text.of(
                gettext_noop("the %(field)s have an empty value between two commas"), field=field
            ),
            field=field,
        )
    brackets = np.flatnonzero(np.frombuffer(data.translate(_IS_BRACKET), dtype=np.bool_))
    if len(brackets):
        shape = _bracket_shape(data, byte, brackets, starts, field)
    else:
        shape = _line_shape(byte, starts, field)

    try:
        values = np.fromstring(data.translate(_TO_SPACES), dtype=np.float64, sep=" ")
    except ValueError:
        values = None
    if values is None or len(values) != len(starts):
        values = _convert_one_by_one(data, starts, ends, shape, field)
    return values, shape


def _bracket_shape(
    data: bytes, byte: np.ndarray, brackets: np.ndarray, starts: np.ndarray, field: str
) -> tuple[int, ...]:
    """The shape of nested lists, from the positions of the brackets alone."""
    is_open = byte[brackets] == _OPEN
    depth = np.cumsum(np.where(is_open, 1, -1))  # depth after each bracket
    if depth.min() < 0:
        raise InputError(
            Text.of(gettext_noop("the %(field)s have a ']' without a matching '['"), field=field),
            field=field,
            character=int(brackets[np.argmax(depth < 0)]) + 1,
        )
    if depth[-1] != 0:
        raise InputError(
            Text.of(gettext_noop("the %(field)s have a '[' that is never closed"), field=field),
            field=field,
        )
    innermost = int(depth.max())
    _check_dimensions(innermost, field)  # before the per-level work below
    # The bracket just before each number tells its depth and (if innermost) its row.
    before = np.searchsorted(brackets, starts) - 1
    token_depth = np.where(before >= 0, depth[np.maximum(before, 0)], 0)
    stray = np.flatnonzero(token_depth != innermost)
    if len(stray):
        token = _token(data, int(starts[stray[0]]))
        raise InputError(
            Text.of(
                gettext_noop(
                    "'%(token)s' in the %(field)s is not nested like the other numbers: "
                    "every row must be a list of numbers at the same depth"
                ),
                token=token,
                field=field,
            ),
            field=field,
        )
    opens = brackets[is_open]
    open_depth = depth[is_open]
    row_number = np.cumsum(is_open & (depth == innermost)) - 1  # per bracket
    row_lengths = np.bincount(row_number[before], minlength=int(row_number[-1]) + 1)
    _check_equal(row_lengths, field)
    shape: list[int] = []
    for level in range(1, innermost):
        parents = opens[open_depth == level]
        children = opens[open_depth == level + 1]
        counts = np.bincount(
            np.searchsorted(parents, children, side="right") - 1, minlength=len(parents)
        )
        _check_equal(counts, field, depth=level)
        shape.append(int(counts[0]))
    top_level = int((open_depth == 1).sum())
    if top_level > 1:  # several lists one after another: an implicit outer list
        shape.insert(0, top_level)
    shape.append(int(row_lengths[0]))
    _check_dimensions(len(shape), field)
    return tuple(shape)


def _line_shape(byte: np.ndarray, starts: np.ndarray, field: str) -> tuple[int, ...]:
    """One row per line (blank lines skipped); a single line is 1-D."""
    line_of_token = np.searchsorted(np.flatnonzero(byte == _NEWLINE), starts)
    _lines, row_lengths = np.unique(line_of_token, return_counts=True)
    if len(row_lengths) == 1:
        return (int(row_lengths[0]),)
    _check_equal(row_lengths, field)
    return (len(row_lengths), int(row_lengths[0]))


def _check_equal(lengths: np.ndarray, field: str, depth: int | None = None) -> None:
    """All lists must be equally long; name the first one that is not, against the usual length.

    Without ``depth`` the lists are rows of values ("row 2 has 2 values, the others have 3");
    with it, lists of lists at that depth ("list 2 at depth 1 has 1 item, the others have 2").
    """
    if len(lengths) == 0 or (lengths == lengths[0]).all():
        return
    sizes, frequency = np.unique(lengths, return_counts=True)
    usual = sizes[frequency == frequency.max()]
    expected = int(lengths[0]) if lengths[0] in usual else int(usual[0])
    odd = int(np.argmax(lengths != expected))
    found = int(lengths[odd])
    if depth is None:
        count = _plural(found, gettext_noop("%(n)s value"), gettext_noop("%(n)s values"))
        message = Text.of(
            gettext_noop("row %(row)s has %(count)s, the others have %(expected)s"),
            row=odd + 1,
            count=count,
            expected=expected,
        )
    else:
        count = _plural(found, gettext_noop("%(n)s item"), gettext_noop("%(n)s items"))
        message = Text.of(
            gettext_noop(
                "list %(n)s at depth %(depth)s has %(count)s, the others have %(expected)s"
            ),
            n=odd + 1,
            depth=depth,
            count=count,
            expected=expected,
        )
    raise InputError(
        message,
        field=field,
        row=odd + 1,
    )


def _convert_one_by_one(
    data: bytes, starts: np.ndarray, ends: np.ndarray, shape: tuple[int, ...], field: str
) -> np.ndarray:
    """The slow path: convert token by token so the first bad one can be named."""
    values = np.empty(len(starts), dtype=np.float64)
    for i, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        token = data[start:end].decode("utf-8", errors="replace")
        try:
            if "_" in token:  # float() would read 1_000 as 1000; a pasted number never has one
                raise ValueError(token)
            values[i] = float(token)
        except ValueError:
            raise InputError(
                Text.of(
                    gettext_noop("'%(token)s' is not a number (%(place)s)"),
                    token=token,
                    place=_place(i, shape, field),
                ),
                field=field,
                **_location(i, shape),
            ) from None
    return values


def _token(data: bytes, start: int) -> str:
    end = start
    while end < len(data) and data[end] not in _SEPARATORS:
        end += 1
    return data[start:end].decode("utf-8", errors="replace")


def _location(flat_index: int, shape: Sequence[int]) -> dict[str, Any]:
    index = [int(i) for i in np.unravel_index(flat_index, tuple(shape))] if shape else []
    if len(index) == 1:
        return {"position": index[0] + 1}
    if len(index) == 2:
        return {"row": index[0] + 1, "column": index[1] + 1}
    return {"index": index}


def _place(flat_index: int, shape: Sequence[int], field: str) -> Text:
    location = _location(flat_index, shape)
    if "position" in location:
        return Text.of(gettext_noop("position %(position)s"), position=location["position"])
    if "row" in location:
        return Text.of(
            gettext_noop("row %(row)s, column %(column)s"),
            row=location["row"],
            column=location["column"],
        )
    index = "".join(f"[{i}]" for i in location["index"])
    return Text.of(gettext_noop("at %(field)s%(index)s"), field=field, index=index)


def _plural(n: int, singular: str, plural: str) -> Text:
    """``n`` with its unit; both forms are marked for translation by the caller."""
    return Text.of(singular if n == 1 else plural, n=n)


def _check_dimensions(dimensions: int, field: str) -> None:
    """Refuse more than MAX_DIMENSIONS dimensions, whichever reader found them."""
    if dimensions > MAX_DIMENSIONS:
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s have %(count)s dimensions; at most %(limit)s are accepted"
                ),
                field=field,
                count=dimensions,
                limit=MAX_DIMENSIONS,
            ),
            field=field,
            dimensions=dimensions,
        )


def _json_dimensions(value: Any) -> int:
    """How deep the first item of nested lists lies: the dimensions of any rectangular list.

    A loop, not recursion, and no copy: nested lists deeper than this elsewhere are ragged, which
    the structure check names at a depth no greater than this one.
    """
    dimensions = 0
    while isinstance(value, list) and value:
        value = value[0]
        dimensions += 1
    return dimensions


def _too_many(count: int, limit: int) -> Text:
    return Text.of(
        gettext_noop("too many numbers: %(count)s (limit %(limit)s)"),
        count=f"{count:,}",
        limit=f"{limit:,}",
    )


def _empty(field: str) -> Text:
    if field.endswith("s"):
        return Text.of(gettext_noop("the %(field)s are empty"), field=field)
    return Text.of(gettext_noop("the %(field)s is empty"), field=field)


def _to_tensor(values: np.ndarray, field: str, dtype: torch.dtype) -> torch.Tensor:
    if values.size == 0:
        raise InputError(_empty(field), field=field)
    if dtype.is_floating_point:
        with np.errstate(over="ignore"):
            cast = values.astype(_NUMPY_FLOAT.get(dtype, np.float32), copy=False)
        overflow = np.isinf(cast) & np.isfinite(values)
        if overflow.any():
            i = int(np.argmax(overflow))
            limit = np.finfo(cast.dtype).max
            raise InputError(
                Text.of(
                    gettext_noop(
                        "%(value)s in the %(field)s is too large for %(dtype)s (the largest is "
                        "about %(limit)s)"
                    ),
                    value=f"{values.flat[i]:g}",
                    field=field,
                    dtype=str(cast.dtype),
                    limit=f"{limit:.2g}",
                ),
                field=field,
                **_location(i, values.shape),
            )
        return torch.from_numpy(cast).to(dtype)
    whole = np.isfinite(values) & (values == np.rint(values))
    if not whole.all():
        i = int(np.argmin(whole))
        raise InputError(
            Text.of(
                gettext_noop("%(field)s %(value)s is not a whole number"),
                field=field,
                value=_format_number(values.flat[i]),
            ),
            field=field,
            **_location(i, values.shape),
        )
    if np.abs(values).max() > 2**53:
        raise InputError(
            Text.of(
                gettext_noop("%(field)s has a value too large to be a class index"), field=field
            ),
            field=field,
        )
    return torch.from_numpy(values.astype(np.int64)).to(dtype)


_NUMPY_FLOAT = {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16}


def _format_number(x: float) -> str:
    x = float(x)
    if math.isfinite(x) and x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


# --- JSON -------------------------------------------------------------------------------------

_JSON_SPECIAL = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


def parse_json_tensor(
    value: Any, *, field: str, dtype: torch.dtype = torch.float32, max_numbers: int = 1_000_000
) -> torch.Tensor:
    """A tensor from already-decoded JSON: a number or nested lists of numbers.

    JSON has no NaN or infinity, so the strings ``"nan"``, ``"inf"``, ``"-inf"`` (and ``"Infinity"``)
    are accepted in their place; a whole string value is read with :func:`parse_tensor`.
    """
    if isinstance(value, str):
        return parse_tensor(value, field=field, dtype=dtype, max_numbers=max_numbers)
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise InputError(
            Text.of(
                gettext_noop("the %(field)s must be a number or a list of numbers, not %(kind)s"),
                field=field,
                kind=_json_kind(value),
            ),
            field=field,
        )
    _check_dimensions(_json_dimensions(value), field)  # numpy would walk 64 levels first
    try:
        array = np.array(value)
    except (ValueError, TypeError, OverflowError):
        _raise_json_structure_error(value, field)
    if array.size > max_numbers:
        raise TooMany(
            _too_many(int(array.size), max_numbers),
            field=field,
            count=int(array.size),
            limit=max_numbers,
        )
    if array.size == 0:
        raise InputError(_empty(field), field=field)
    if array.dtype.kind in "iuf" and _holds_booleans(value, array):
        array = np.array(value, dtype=object)  # the slow path below names the first one
    if array.dtype.kind not in "iuf":
        array = _json_values_one_by_one(array, field)
    return _to_tensor(array.astype(np.float64, copy=False), field, dtype)


def _holds_booleans(value: Any, array: np.ndarray) -> bool:
    """Whether the nested lists ``array`` was read from hold a JSON true or false among the numbers.

    np.array reads True as 1 and False as 0, so ``[true, 1]`` would pass for numbers. Only a row
    holding a 0 or a 1 can hide one, and for real-valued logits that is almost never; the element
    types of those rows alone are looked at (``map(type, row)``, in C).
    """
    if array.ndim == 0:
        return isinstance(value, bool)
    suspect = ((array == 0) | (array == 1)).reshape(-1, array.shape[-1]).any(axis=1)
    if not suspect.any():
        return False
    rows = [value]
    for _ in range(array.ndim - 1):
        rows = [row for parent in rows for row in parent]
    return any(bool in set(map(type, rows[i])) for i in np.flatnonzero(suspect).tolist())


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON spells them
    if isinstance(value, dict):
        return Text.of(gettext_noop("an object"))
    return f"'{value}'" if isinstance(value, str) else type(value).__name__


def _json_values_one_by_one(array: np.ndarray, field: str) -> np.ndarray:
    values = np.empty(array.shape, dtype=np.float64)
    for i, item in enumerate(array.flat):
        if isinstance(item, np.generic):
            item = item.item()
        number: float | None = None
        if isinstance(item, str):
            number = _JSON_SPECIAL.get(item.strip().lower())
            if number is None:
                try:
                    number = float(item)
                except ValueError:
                    number = None
        elif isinstance(item, int | float) and not isinstance(item, bool):
            try:
                number = float(item)
            except OverflowError:
                number = None
        if number is None:
            raise InputError(
                Text.of(
                    gettext_noop("%(kind)s is not a number (%(place)s)"),
                    kind=_json_kind(item),
                    place=_place(i, array.shape, field),
                ),
                field=field,
                **_location(i, array.shape),
            )
        values.flat[i] = number
    return values


def _raise_json_structure_error(value: Any, field: str) -> NoReturn:
    """Walk ragged or mixed nested lists and raise for the first inconsistency."""
    level: list[Any] = [value]
    depth = 0
    while True:
        is_list = [isinstance(item, list) for item in level]
        if any(is_list) and not all(is_list):
            odd = next(item for item in level if not isinstance(item, list))
            raise InputError(
                Text.of(
                    gettext_noop(
                        "%(kind)s in the %(field)s is not nested like the other numbers: "
                        "every row must be a list of numbers at the same depth"
                    ),
                    kind=_json_kind(odd),
                    field=field,
                ),
                field=field,
            )
        if not any(is_list):
            break
        lengths = np.array([len(item) for item in level])
        innermost = not any(isinstance(x, list) for item in level for x in item)
        if innermost:
            _check_equal(lengths, field)
        else:  # same words as the text path: the lists inside one at depth d
            _check_equal(lengths, field, depth=depth + 1)
        level = [x for item in level for x in item]
        depth += 1
    raise InputError(
        Text.of(gettext_noop("the %(field)s are not a rectangular list of numbers"), field=field),
        field=field,
    )


# --- targets ----------------------------------------------------------------------------------


def parse_target(
    value: Any,
    *,
    field: str = "target",
    input_shape: Sequence[int] | None = None,
    max_numbers: int = 1_000_000,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Class indices (``torch.long``) or class probabilities (``dtype``), decided like PyTorch.

    ``value`` is text (read with :func:`parse_tensor`) or decoded JSON. The rule:

    1. If ``input_shape`` is known and the target has exactly that shape, it holds probabilities
       (that is how ``F.cross_entropy`` tells them apart) — even one-hot rows of whole numbers, and
       rows typed with semicolons (``0.7 0.2 0.1; 0 1 0``). One logit with target ``[0]``: class 0.
    2. Otherwise, if every value is a whole number, it holds class indices (``-100`` included).
    3. Otherwise, when ``input_shape`` is known, the shape says indices, so a fraction is an error:
       ``"target 1.5 is not a whole number"``; when it is not known, the target is probabilities.
    """
    if isinstance(value, str):
        target = parse_tensor(value, field=field, dtype=torch.float64, max_numbers=max_numbers)
    else:
        target = parse_json_tensor(value, field=field, dtype=torch.float64, max_numbers=max_numbers)
    whole = bool((torch.isfinite(target) & (target == target.round())).all())
    if input_shape is not None:
        target = _rows_typed_on_one_line(value, target, tuple(input_shape))
        one_class = tuple(input_shape) == (1,)
        if tuple(target.shape) == tuple(input_shape) and not (
            one_class and whole and target[0] != 1
        ):
            return target.to(dtype)
    if whole or input_shape is not None:
        return _to_tensor(target.numpy(), field, torch.long)
    return target.to(dtype)


def _rows_typed_on_one_line(
    value: Any, target: torch.Tensor, input_shape: tuple[int, ...]
) -> torch.Tensor:
    """``0.7 0.2 0.1; 0 1 0`` for (2, 3) logits: rows of probabilities typed on one line."""
    typed_rows = isinstance(value, str) and (";" in value or "；" in value)
    if (
        typed_rows
        and target.dim() == 1
        and len(input_shape) == 2
        and target.numel() == math.prod(input_shape)
        and input_shape[1] > 1
    ):
        return target.reshape(input_shape)
    return target


# --- .npy -------------------------------------------------------------------------------------


_NPY_HEADER_BYTES = 65_536


def _check_npy_shape(shape: tuple[int, ...], field: str) -> None:
    """numpy's header reader accepts any tuple of ints: refuse what no array can have."""
    _check_dimensions(len(shape), field)
    if any(size < 0 for size in shape):
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file is not a valid .npy file: its header gives the shape "
                    "%(shape)s, with a negative size"
                ),
                field=field,
                shape=_shape_text(shape),
            ),
            field=field,
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def load_npy(
    data: bytes | bytearray | memoryview | np.ndarray, *, field: str, max_numbers: int = 50_000_000
) -> torch.Tensor:
    """A tensor from the bytes of an ``.npy`` file (``np.save``), never unpickling anything.

    The header is read first, so object, structured, string and complex arrays, and arrays with more
    than ``max_numbers`` values, are refused before any data is touched. Floating arrays keep their
    dtype; integer and boolean arrays become ``int64``. Fortran order is fine. The tensor shares the
    buffer (even read-only bytes such as a request body) when the values are float in native byte
    order or already int64; otherwise one copy converts them.
    """
    buffer = memoryview(data)
    if buffer[:2].tobytes() == b"PK":
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file is an .npz archive; upload one array saved with np.save "
                    "(.npy)"
                ),
                field=field,
            ),
            field=field,
        )
    # The header is at most ~10 kB (numpy's own limit); copy only that much for the reader.
    stream = io.BytesIO(buffer[:_NPY_HEADER_BYTES].tobytes())
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception:  # noqa: BLE001 - numpy's header reader fails in many ways (ValueError,
        # SyntaxError, tokenize.TokenError, EOFError, ...); to the user they all mean the same
        raise InputError(
            Text.of(
                gettext_noop("the %(field)s file is not a valid .npy file (save it with np.save)"),
                field=field,
            ),
            field=field,
        ) from None
    if dtype.hasobject:
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file holds Python objects, which are refused (they would need "
                    "pickle); save a numeric array"
                ),
                field=field,
            ),
            field=field,
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file holds %(dtype)s values; upload real numbers (float or int)"
                ),
                field=field,
                dtype=str(dtype),
            ),
            field=field,
        )
    _check_npy_shape(shape, field)
    count = math.prod(shape)
    if count > max_numbers:
        raise TooMany(
            _too_many(count, max_numbers),
            field=field,
            count=count,
            limit=max_numbers,
        )
    # a batch of no examples, (0, C) or (0,), goes on: the losses answer it as PyTorch does
    if count == 0 and not (shape and shape[0] == 0):
        raise InputError(_empty(field), field=field)
    offset = stream.tell()
    available = len(buffer) - offset
    if available > count * dtype.itemsize:
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file does not match its header: shape %(shape)s needs "
                    "%(promised)s bytes of data but %(available)s follow"
                ),
                field=field,
                shape=_shape_text(shape),
                promised=f"{count * dtype.itemsize:,}",
                available=f"{available:,}",
            ),
            field=field,
        )
    if available < count * dtype.itemsize:
        raise InputError(
            Text.of(
                gettext_noop(
                    "the %(field)s file is truncated: the header promises %(promised)s bytes of "
                    "data but only %(available)s follow"
                ),
                field=field,
                promised=f"{count * dtype.itemsize:,}",
                available=f"{available:,}",
            ),
            field=field,
        )
    array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran_order else "C")
    wanted = dtype.newbyteorder("=") if dtype.kind == "f" else np.dtype(np.int64)
    if array.dtype != wanted:
        array = array.astype(wanted, order="K")  # one copy, keeping Fortran order
    if array.flags.writeable:
        return torch.from_numpy(array)
    # A view of immutable bytes (the request body): shared, not copied — a 65 MB upload would
    # otherwise cost a copy as long as np.load itself. torch warns that writing to such a tensor
    # is undefined; nothing here writes to an input (the engine's in-place steps all work on
    # tensors it made itself), which tests/lossdemos/test_parsing.py checks.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
