"""The demo forms: GET forms whose field names are the API's, so a URL carries the whole calculation.

Each form runs its op in ``clean()`` through :mod:`lossdemos.engine`; an input problem becomes an
error on the field it names ("row 3 has 4 values, the others have 5"), never an exception. With
``upload=True`` (a POST form) the tensor fields may also come as ``.npy`` files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kb.messages import Text, gettext_noop, translated
from lossdemos import admission, engine
from lossdemos.errors import InputError, LossInputError
from lossdemos.limits import NPY_NUMBER_LIMIT

if TYPE_CHECKING:  # importing operations here would import torch (see lossdemos.engine)
    from lossdemos.operations import Computation

TENSOR_HELP = _(
    "Numbers separated by spaces or commas, one row per line; JSON lists or pasted "
    "tensor([...]) output work too."
)
REDUCTION_CHOICES = [
    ("mean", _("mean")),
    ("sum", _("sum")),
    ("none", _("none (per element)")),
]
BASE_CHOICES = [("e", _("nats (base e)")), ("2", _("bits (base 2)"))]


def _tensor_field(label, *, rows: int = 0, help_text=TENSOR_HELP, required: bool = True):
    widget = (
        forms.Textarea(attrs={"rows": rows, "spellcheck": "false", "autocomplete": "off"})
        if rows
        else forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"})
    )
    return forms.CharField(
        label=label, required=False, widget=widget, help_text=help_text, strip=False
    )


def _grad_field():
    return forms.BooleanField(
        label=_("Show the gradient"),
        required=False,
        help_text=_(
            "What training follows: the derivative of the result by autograd, beside its formula."
        ),
    )


def _steps_field(help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=_("Training steps"), required=False, min_value=0, max_value=500, help_text=help_text
    )


def _learning_rate_field() -> forms.FloatField:
    return forms.FloatField(
        label=_("Learning rate"),
        required=False,
        min_value=1e-6,
        max_value=1000,
        initial=1.0,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )


class DemoForm(forms.Form):
    """Base: subclasses declare fields named like the API's and the op they run."""

    op: str = ""
    # The form also runs a training run when it has a number of steps (cross-entropy, NLL).
    trains: bool = False
    # The train op's name for a field of this form, where they differ (NLL's input is its logits).
    training_names: dict[str, str] = {}
    training_note: str = ""  # said above the run when it trains something else than the input
    # Fields that an .npy file may replace on the upload form.
    tensor_fields: tuple[str, ...] = ()
    # API field name → form field that shows its errors.
    error_fields: dict[str, str] = {}

    def __init__(self, *args: Any, upload: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.upload = upload
        self.computation: Computation | None = None
        self.training: Computation | None = None
        # The refusal when every calculation slot stayed taken (lossdemos.admission); no errors then.
        self.busy: admission.Busy | None = None
        if upload:
            for name in self.tensor_fields:
                self.fields[f"{name}_file"] = forms.FileField(
                    label=_("%(field)s as an .npy file") % {"field": self.fields[name].label},
                    required=False,
                    widget=forms.ClearableFileInput(attrs={"accept": ".npy"}),
                )

    def values(self) -> dict[str, Any]:
        """The raw values the op reads, by API field name."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if not name.endswith("_file") and value is not None
        }

    def _uploaded_tensors(self) -> dict[str, Any]:
        tensors = {}
        for name in self.tensor_fields:
            upload = self.cleaned_data.get(f"{name}_file")
            if not upload:
                continue
            limit = NPY_NUMBER_LIMIT * 8 + (1 << 20)
            if upload.size > limit:
                raise InputError(
                    Text.of(
                        gettext_noop("the %(field)s file is larger than %(limit)s numbers allow"),
                        field=name,
                        limit=f"{NPY_NUMBER_LIMIT:,}",
                    ),
                    field=name,
                )
            tensors[name] = engine.load_npy(
                bytearray(upload.read()), field=name, max_numbers=NPY_NUMBER_LIMIT
            )
        return tensors

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        engine.load()  # once per process, seconds of CPU: not while holding a calculation slot
        try:
            with admission.admitted():
                tensors = self._uploaded_tensors() if self.upload else {}
                self.computation = engine.compute(self.op, self.values(), tensors=tensors)
                if self.trains and self.cleaned_data.get("steps"):
                    self.training = engine.compute(
                        "train",
                        self._for_training(self.values()),
                        tensors=self._for_training(tensors),
                    )
        except admission.Busy as busy:
            self.busy = busy
        except (InputError, LossInputError) as exc:
            self._add_located_error(exc.location.get("field"), translated(exc.message))
        return cleaned

    def _for_training(self, values: dict[str, Any]) -> dict[str, Any]:
        return {self.training_names.get(name, name): value for name, value in values.items()}

    def _add_located_error(self, field: str | None, message: str) -> None:
        field = self.error_fields.get(field, field)
        if self.upload and field in self.tensor_fields and self.cleaned_data.get(f"{field}_file"):
            field = f"{field}_file"
        self.add_error(field if field in self.fields else None, message)

    def field_errors(self) -> list[tuple[str, str]]:
        """(field name as submitted, message) for the live fragment to place beside each field."""
        return [
            (self.add_prefix(name) if name != "__all__" else "", str(message))
            for name, messages in self.errors.items()
            for message in messages
        ]


class SoftmaxForm(DemoForm):
    op = "softmax"
    tensor_fields = ("logits",)
    logits = _tensor_field(_("Logits"), rows=4)
    dim = forms.IntegerField(
        label=_("Dimension (dim)"),
        required=False,
        initial=-1,
        help_text=_("The dimension that sums to 1: -1 is the last (the classes of each row)."),
    )


class EntropyForm(DemoForm):
    op = "entropy"
    tensor_fields = ("numbers",)
    error_fields = {"probs": "numbers", "counts": "numbers", "logits": "numbers"}
    given = forms.ChoiceField(
        label=_("The numbers are"),
        choices=[
            ("probs", _("probabilities")),
            ("counts", _("counts")),
            ("logits", _("logits")),
        ],
        initial="probs",
        required=False,
        widget=forms.RadioSelect,
    )
    numbers = _tensor_field(_("Numbers"), rows=3)
    base = forms.ChoiceField(
        label=_("Unit"),
        choices=BASE_CHOICES,
        initial="2",
        required=False,
        widget=forms.RadioSelect,
    )
    grad = _grad_field()

    def values(self) -> dict[str, Any]:  # type: ignore[override]
        given = self.cleaned_data.get("given") or "probs"
        return {
            given: self.cleaned_data.get("numbers"),
            "base": self.cleaned_data.get("base"),
            "grad": self.cleaned_data.get("grad"),
        }

    def _uploaded_tensors(self) -> dict[str, Any]:
        tensors = super()._uploaded_tensors()
        if "numbers" in tensors:
            tensors[self.cleaned_data.get("given") or "probs"] = tensors.pop("numbers")
        return tensors


class _ClassificationOptions(forms.Form):
    weight = _tensor_field(
        _("Class weights (optional)"), help_text=_("One weight per class; empty for none.")
    )
    ignore_index = forms.IntegerField(
        label=_("ignore_index"),
        required=False,
        initial=-100,
        help_text=_("Targets equal to this are skipped (and not counted in the mean)."),
    )
    reduction = forms.ChoiceField(
        label=_("Reduction"), choices=REDUCTION_CHOICES, initial="mean", required=False
    )
    base = forms.ChoiceField(
        label=_("Unit"),
        choices=BASE_CHOICES,
        initial="e",
        required=False,
        widget=forms.RadioSelect,
    )
    grad = _grad_field()


class NllForm(DemoForm, _ClassificationOptions):
    op = "nll"
    # The run trains the input as logits through log_softmax and nll: cross-entropy. For
    # log-probabilities log_softmax changes nothing at the start; raw logits (source article C) get
    # the loss they should have had.
    trains = True
    training_names = {"input": "logits"}
    training_note = _(
        "The run takes the input as logits and trains them through log_softmax and nll, which is "
        "cross-entropy. For log-probabilities log_softmax changes nothing, so the first loss is "
        "this page's; for raw logits it is the loss they should have had."
    )
    error_fields = {"logits": "input"}
    tensor_fields = ("input",)
    input = _tensor_field(_("Log-probabilities (input)"), rows=4)
    target = _tensor_field(_("Targets (class indices)"), help_text=_("One class index per row."))
    steps = _steps_field(
        _(
            "Train the input as logits through log_softmax and nll (that is, cross-entropy) for "
            "this many gradient-descent steps (up to 500; empty or 0 for none) and watch the loss "
            "fall."
        )
    )
    learning_rate = _learning_rate_field()
    field_order = [
        "input",
        "target",
        "weight",
        "ignore_index",
        "reduction",
        "base",
        "grad",
        "steps",
        "learning_rate",
    ]


class CrossEntropyForm(DemoForm, _ClassificationOptions):
    op = "cross-entropy"
    trains = True
    tensor_fields = ("logits",)
    logits = _tensor_field(_("Logits"), rows=4)
    target = _tensor_field(
        _("Targets"),
        help_text=_("One class index per row, or rows of probabilities shaped like the logits."),
    )
    label_smoothing = forms.FloatField(
        label=_("Label smoothing"),
        required=False,
        min_value=0,
        max_value=1,
        initial=0,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    steps = _steps_field(
        _(
            "Run gradient descent on these logits for this many steps (up to 500; empty or 0 for "
            "none) and watch the loss fall."
        )
    )
    learning_rate = _learning_rate_field()
    field_order = [
        "logits",
        "target",
        "weight",
        "ignore_index",
        "label_smoothing",
        "reduction",
        "base",
        "grad",
        "steps",
        "learning_rate",
    ]


class KlForm(DemoForm):
    op = "kl"
    tensor_fields = ("input", "target")
    input = _tensor_field(
        _("Model log-probabilities log q (input)"),
        rows=3,
        help_text=_("kl_div's input must be log-probabilities, e.g. log_softmax of the logits."),
    )
    target = _tensor_field(
        _("True distribution p (target)"),
        rows=3,
        help_text=_("Probabilities; tick log_target if they are log-probabilities."),
    )
    log_target = forms.BooleanField(label=_("log_target"), required=False)
    reduction = forms.ChoiceField(
        label=_("Reduction"),
        choices=[*REDUCTION_CHOICES, ("batchmean", _("batchmean (the true KL)"))],
        initial="batchmean",
        required=False,
    )
    base = forms.ChoiceField(
        label=_("Unit"),
        choices=BASE_CHOICES,
        initial="e",
        required=False,
        widget=forms.RadioSelect,
    )
    grad = _grad_field()


class PerplexityForm(DemoForm):
    op = "perplexity"
    tensor_fields = ("logits",)
    logits = _tensor_field(
        _("Logits (one row per token)"),
        rows=5,
        help_text=_("Shape (tokens, vocabulary): each row scores every word for one position."),
    )
    target = _tensor_field(_("Next tokens (target)"), help_text=_("One token id per row."))
    sequence_ids = _tensor_field(
        _("Sequence of each token (optional)"),
        help_text=_(
            "e.g. 0 0 0 1 1: the first three tokens are one sentence, the last two another."
        ),
    )
    ignore_index = forms.IntegerField(label=_("ignore_index"), required=False, initial=-100)
    base = forms.ChoiceField(
        label=_("NLL unit"),
        choices=BASE_CHOICES,
        initial="e",
        required=False,
        widget=forms.RadioSelect,
    )
    sample_seed = forms.IntegerField(
        label=_("Sample with seed (optional)"),
        required=False,
        help_text=_("Draw each prediction with torch.multinomial under this seed."),
    )
    grad = _grad_field()


class LikelihoodForm(forms.Form):
    """The maximum-likelihood demo: 0/1 outcomes of a coin."""

    outcomes = forms.CharField(
        label=_("Outcomes (0 or 1)"),
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text=_("e.g. 1 0 1 1 0 1 1: heads are 1, tails 0."),
    )
