"""The loss API (ARCHITECTURE §6): ``POST /api/losses/<op>``.

Each op takes a JSON object, or ``multipart/form-data`` whose file fields are ``.npy`` arrays (the fast
way to send a (512, 32000) float32 tensor) and whose other fields are text. The answer is
``{"result", "steps": [{"name", "formula"?, "shape", "value"}], "code", "warnings"}``.

No authentication and no CSRF: these routes are pure functions of the body — they read no cookie, see
no user and change nothing — so a forged cross-site request gains nothing. (django-ninja exempts its
views from Django's CSRF middleware and checks CSRF only for cookie-authenticated routes.)

Input the engine refuses is raised as :class:`kb.api_auth.ApiError` — 415, 413 or 422 with
``{"error", "field", "location"}`` — which ``kb/api.py`` answers as it answers the library's errors.
The schemas here are plain pydantic, and the engine is reached through :mod:`lossdemos.engine`, so
importing this router does not import torch.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import ConfigDict, Field, WithJsonSchema

from kb.api_auth import ApiError
from kb.messages import Text, gettext_noop, translated
from lossdemos import admission, engine
from lossdemos.errors import InputError, LossInputError, TooMany
from lossdemos.limits import MULTIPART_BYTE_LIMIT, NPY_FIELDS, NPY_NUMBER_LIMIT
from lossdemos.uploads import read_multipart

router = Router(tags=["losses"])


class UnsupportedMediaType(InputError):
    """A body that is neither JSON nor multipart (HTTP 415)."""


# --- schemas (documentation and the shape of every answer) -----------------------------------

_TENSOR_SCHEMA = {
    "description": (
        "A number or nested lists of numbers (rectangular). NaN and infinities as the strings "
        '"NaN", "Infinity", "-Infinity". A string is read as pasted text: '
        '"2 1 0.1", rows on lines, or PyTorch\'s printed "tensor([[2.0, 1.0]])".'
    ),
    "anyOf": [
        {"type": "number"},
        {"type": "string"},
        {"type": "array", "items": {}},
    ],
}
Tensor = Annotated[Any, WithJsonSchema(_TENSOR_SCHEMA)]
_GRAD_DESCRIPTION = (
    "Also answer grad: d(result)/d(the first tensor input) by autograd (of the sum for "
    "reduction 'none'), in the input's dtype, with grad_closed_form and its grad_formula."
)
Reduction = Literal["none", "mean", "sum"]
Base = Literal["e", "2"]


class _Body(Schema):
    model_config = ConfigDict(extra="forbid")


class SoftmaxBody(_Body):
    logits: Tensor
    dim: int = -1


class LogSoftmaxBody(_Body):
    logits: Tensor
    dim: int = -1


class EntropyBody(_Body):
    probs: Tensor = Field(None, description="Probabilities (each row sums to 1).")
    counts: Tensor = Field(None, description="Counts; normalised to probabilities.")
    logits: Tensor = Field(None, description="Raw scores; softmax first.")
    base: Base = Field("e", description='"e" for nats, "2" for bits. 2-D input: one value per row.')
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


class NllBody(_Body):
    input: Tensor = Field(..., description="Log-probabilities, classes along dim 1 (dim 0 if 1-D).")
    target: Tensor = Field(..., description="Class indices.")
    weight: Tensor = Field(None, description="One weight per class.")
    ignore_index: int = -100
    reduction: Reduction = "mean"
    base: Base = Field("e", description='Extension: "2" reports the loss in bits.')
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


class CrossEntropyBody(_Body):
    logits: Tensor = Field(..., description="Raw scores (C), (N, C) or (N, C, d1, ...).")
    target: Tensor = Field(
        ..., description="Class indices, or probabilities with the logits' shape."
    )
    weight: Tensor = None
    ignore_index: int = -100
    label_smoothing: float = Field(0.0, ge=0.0, le=1.0)
    reduction: Reduction = "mean"
    base: Base = Field("e", description='Extension: "2" reports the loss in bits.')
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


class KlBody(_Body):
    input: Tensor = Field(..., description="log q: log-probabilities of the model.")
    target: Tensor = Field(..., description="p, or log p with log_target=true.")
    log_target: bool = False
    reduction: Literal["none", "mean", "sum", "batchmean"] = Field(
        "mean", description='"mean" divides by every element and warns, as PyTorch does.'
    )
    base: Base = Field("e", description='Extension: "2" reports the divergence in bits.')
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


class PerplexityBody(_Body):
    logits: Tensor = Field(..., description="(N, C): one row of scores per token.")
    target: Tensor = Field(..., description="(N): the true next token of each row.")
    sequence_ids: Tensor = Field(None, description="(N): which sequence each token belongs to.")
    ignore_index: int = -100
    base: Base = "e"
    sample_seed: int | None = Field(
        None, description="Sample predictions with torch.multinomial under this seed."
    )
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


class TrainBody(_Body):
    logits: Tensor = Field(..., description="The starting logits, (C), (N, C) or (N, C, d1, ...).")
    target: Tensor = Field(
        ..., description="Class indices, or probabilities with the logits' shape."
    )
    weight: Tensor = None
    ignore_index: int = -100
    label_smoothing: float = Field(0.0, ge=0.0, le=1.0)
    learning_rate: float = Field(1.0, gt=0.0, le=1000.0)
    steps: int = Field(20, ge=1, le=500, description="Steps of gradient descent (at most 500).")


class BceWithLogitsBody(_Body):
    logits: Tensor
    target: Tensor = Field(..., description="Probabilities in [0, 1], the logits' shape.")
    weight: Tensor = None
    pos_weight: Tensor = None
    reduction: Reduction = "mean"
    base: Base = "e"
    grad: bool = Field(False, description=_GRAD_DESCRIPTION)


Number = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": 'A number or nested lists; "NaN", "Infinity", "-Infinity" as strings.',
            "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "array", "items": {}}],
        }
    ),
]


class StepOut(Schema):
    name: str
    formula: str | None = None
    shape: list[int]
    value: Number = Field(
        ..., description="The tensor in full, or null when it has more than 10,000 numbers."
    )
    omitted: bool | None = Field(None, description="true when value was left out for size.")
    summary: dict[str, Any] | None = Field(
        None,
        description="count, min, max, mean (NaN if any value is NaN) — given when value is omitted.",
    )
    note: str | None = None


class LossAnswer(Schema):
    result: Number
    steps: list[StepOut]
    code: str = Field(..., description="A runnable PyTorch snippet that reproduces the result.")
    warnings: list[str]


class LossAnswerWithGrad(LossAnswer):
    grad: Number = Field(None, description='With "grad": true: d(result)/d(first input).')
    grad_closed_form: Number = Field(None, description="The same from its textbook formula.")
    grad_formula: str | None = Field(None, description="LaTeX of the closed form.")


class TrainAnswer(LossAnswer):
    loss: Number = Field(
        ..., description="The mean cross-entropy before each step and after the last."
    )
    accuracy: Number = Field(..., description="The share of examples whose top logit is right.")
    perplexity: Number = Field(..., description="e^loss at each step.")


class PerplexityAnswer(LossAnswerWithGrad):
    per_sequence: Number = Field(..., description="The perplexity of each sequence.")
    mean_nll: Number = Field(..., description="Mean NLL over all counted tokens (nats or bits).")


class ErrorOut(Schema):
    error: str
    field: str | None = None
    location: dict[str, Any] | None = None


# --- requests -----------------------------------------------------------------------------------

# An answer's JSON grows ~20 bytes a number: 2,000,000 numbers is already a 40 MB answer.
RESULT_NUMBER_LIMIT = 2_000_000


def _json_response(payload: dict[str, Any], *, status: int = 200) -> HttpResponse:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return HttpResponse(body, content_type="application/json", status=status)


def _read_request(request: HttpRequest, op: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as (values, tensors from .npy files). Raises InputError / TooMany."""
    content_type = request.content_type or ""
    if content_type == "multipart/form-data":
        form = read_multipart(request, max_bytes=MULTIPART_BYTE_LIMIT)
        allowed = NPY_FIELDS[op]
        tensors = {}
        for name, data in form.files.items():
            if name not in allowed:
                raise InputError(
                    Text.of(
                        gettext_noop(
                            "'%(field)s' cannot be an uploaded file here; files are accepted for "
                            "%(fields)s"
                        ),
                        field=name,
                        fields=", ".join(allowed),
                    ),
                    field=name,
                )
            tensors[name] = engine.load_npy(data, field=name, max_numbers=NPY_NUMBER_LIMIT)
        return form.values, tensors
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            Text.of(
                gettext_noop(
                    "send JSON (Content-Type: application/json) or multipart/form-data, not "
                    "%(content_type)s"
                ),
                content_type=content_type,
            ),
            field="body",
        )
    try:
        raw = request.body
    except RequestDataTooBig:
        raise TooMany(
            gettext_noop(
                "the JSON body is too large; send big tensors as .npy files (multipart/form-data)"
            ),
            field="body",
        ) from None
    try:
        values = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise InputError(
            Text.of(gettext_noop("the body is not valid JSON: %(reason)s"), reason=str(exc)),
            field="body",
        ) from None
    if not isinstance(values, dict):
        raise InputError(
            gettext_noop("the body must be a JSON object of named fields"), field="body"
        )
    return values, {}


def _check_fields(values: dict[str, Any], tensors: dict[str, Any], body: type[_Body]) -> None:
    known = body.model_fields
    for name in (*values, *tensors):
        if name not in known:
            raise InputError(
                Text.of(
                    gettext_noop("unknown field '%(field)s'; this op takes %(fields)s"),
                    field=str(name),
                    fields=", ".join(known),
                ),
                field=str(name),
            )


def _run(request: HttpRequest, op: str, body: type[_Body]) -> HttpResponse:
    engine.load()  # once per process, seconds of CPU: not while holding a calculation slot
    try:
        with admission.admitted():
            return _answer(request, op, body)
    except admission.Busy as busy:
        response = _json_response({"error": translated(busy.message)}, status=503)
        response["Retry-After"] = str(busy.retry_after)
        return response


def _answer(request: HttpRequest, op: str, body: type[_Body]) -> HttpResponse:
    try:
        values, tensors = _read_request(request, op)
        _check_fields(values, tensors, body)
        computation = engine.compute(op, values, tensors=tensors)
    except (InputError, LossInputError) as exc:
        raise _refusal(exc) from exc
    size = computation.trace.result.numel()
    if computation.gradient is not None:  # the gradient and its closed form, each input-sized
        size = max(size, 2 * computation.gradient.value.numel())
    if size > RESULT_NUMBER_LIMIT:
        message = Text.of(
            gettext_noop(
                "the result would hold %(size)s numbers, more than the %(limit)s an answer "
                "carries: reduce it (reduction 'mean' or 'sum'), send fewer rows, or run the "
                "PyTorch snippet locally"
            ),
            size=f"{size:,}",
            limit=f"{RESULT_NUMBER_LIMIT:,}",
        )
        raise ApiError(413, translated(message), field="result")
    return _json_response(engine.json_answer(computation))


def _refusal(exc: InputError | LossInputError) -> ApiError:
    """Refused input as the API answers it: the sentence in the request's language, and where."""
    if isinstance(exc, UnsupportedMediaType):
        status = 415
    elif isinstance(exc, TooMany):
        status = 413
    else:
        status = 422
    message = translated(exc.message)
    return ApiError(status, message, field=exc.location.get("field"), location=exc.location)


# --- routes -----------------------------------------------------------------------------------

_NAN_NOTE = (
    ' NaN and infinities, which JSON cannot spell, are written as the strings "NaN", "Infinity" '
    'and "-Infinity" wherever a number may appear. Steps with more than 10,000 numbers give '
    '"value": null with "omitted": true and a "summary". Limits: 1,000,000 numbers per JSON body, '
    "50,000,000 from .npy files, 2,000,000 in a result; past them 413. Malformed input, or more "
    "than 8 dimensions: 422 with a sentence that says where (field, row, column). When every "
    "calculation slot of the server stays taken for a second: 503 with Retry-After."
)


def _request_body(body: type[_Body]) -> dict[str, Any]:
    schema = body.model_json_schema()
    files = NPY_FIELDS[_OP_OF[body]]
    multipart = {
        "type": "object",
        "properties": {
            name: (
                {"type": "string", "format": "binary", "description": "an .npy file (np.save)"}
                if name in files
                else {"type": "string"}
            )
            for name in schema["properties"]
        },
    }
    return {
        "responses": {
            503: {  # an int, as ninja keys its own: merged into its 503 entry
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer"},
                    }
                }
            }
        },
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "multipart/form-data": {"schema": multipart},
            },
        },
    }


_OP_OF = {
    SoftmaxBody: "softmax",
    LogSoftmaxBody: "log-softmax",
    EntropyBody: "entropy",
    NllBody: "nll",
    CrossEntropyBody: "cross-entropy",
    KlBody: "kl",
    PerplexityBody: "perplexity",
    BceWithLogitsBody: "bce-with-logits",
    TrainBody: "train",
}

_RESPONSES = {413: ErrorOut, 415: ErrorOut, 422: ErrorOut, 503: ErrorOut}


def _route(op: str, body: type[_Body], summary: str, description: str, answer_schema=LossAnswer):
    def view(request: HttpRequest):
        return _run(request, op, body)

    view.__name__ = "loss_" + op.replace("-", "_")
    router.post(
        f"/{op}",
        response={200: answer_schema, **_RESPONSES},
        summary=summary,
        description=description + _NAN_NOTE,
        openapi_extra=_request_body(body),
        operation_id=view.__name__,
    )(view)


_route(
    "softmax",
    SoftmaxBody,
    "Softmax and its steps",
    "softmax(logits, dim): subtract the row maximum, exponentiate, normalise.",
)
_route(
    "log-softmax",
    LogSoftmaxBody,
    "Log-softmax and its steps",
    "log_softmax(logits, dim): z minus the log-sum-exp of its row, computed without forming "
    "the probabilities.",
)
_route(
    "entropy",
    EntropyBody,
    "Entropy of a distribution",
    "Give exactly one of probs, counts or logits; base e (nats) or 2 (bits); one value per row.",
    LossAnswerWithGrad,
)
_route(
    "nll",
    NllBody,
    "Negative log-likelihood (F.nll_loss)",
    "Input must be log-probabilities (log_softmax output); raw probabilities give a negative loss.",
    LossAnswerWithGrad,
)
_route(
    "cross-entropy",
    CrossEntropyBody,
    "Cross-entropy from logits (F.cross_entropy)",
    "log_softmax then NLL; class-index or probability targets, weights, ignore_index, smoothing.",
    LossAnswerWithGrad,
)
_route(
    "kl",
    KlBody,
    "KL divergence (F.kl_div)",
    "KL(p ‖ q) with input = log q. reduction='mean' averages over every element and warns; "
    "'batchmean' is the mathematical KL.",
    LossAnswerWithGrad,
)
_route(
    "perplexity",
    PerplexityBody,
    "Perplexity of next-token predictions",
    "result is the corpus perplexity exp(mean NLL over all counted tokens); per_sequence gives each "
    "sequence's own; mean_nll the mean token NLL.",
    PerplexityAnswer,
)
_route(
    "bce-with-logits",
    BceWithLogitsBody,
    "Binary cross-entropy with logits (extension)",
    "F.binary_cross_entropy_with_logits: a sigmoid and the binary cross-entropy, computed stably.",
    LossAnswerWithGrad,
)
_route(
    "train",
    TrainBody,
    "A training run: gradient descent on the logits",
    "steps steps of z ← z − learning_rate · ∇z F.cross_entropy(z, target); loss, accuracy and "
    "perplexity before each step and after the last (steps + 1 values each). At most 500 steps, "
    "and at most 20,000,000 logits × steps.",
    TrainAnswer,
)
