r"""The loss engine: each concept as a short reference function that shows its working.

Pure torch, no Django. Written in the spirit of the reference functions in PyTorch's own test suite
(``nllloss_reference``, ``cross_entropy_loss_indices_target_reference``, ``kldivloss_reference`` in
``torch/testing/_internal/common_nn.py``): one function per concept, the formula in its docstring,
the input checks delegated to :mod:`~lossdemos.losses.checks`, the formula computed step by step.

The package:

- :mod:`~lossdemos.losses.softmax` — ``softmax``, ``log_softmax``;
- :mod:`~lossdemos.losses.entropy` — ``entropy`` of probabilities, counts or logits;
- :mod:`~lossdemos.losses.classification` — ``nll`` and ``cross_entropy`` (class weights,
  ``ignore_index``, label smoothing, class-probability targets);
- :mod:`~lossdemos.losses.kl` — ``kl``, the KL divergence of ``F.kl_div``;
- :mod:`~lossdemos.losses.perplexity` — ``perplexity``, of a corpus and per sequence;
- :mod:`~lossdemos.losses.bce` — ``binary_cross_entropy_with_logits``;
- :mod:`~lossdemos.losses.gradient` — each loss's gradient by autograd, beside its closed form;
- :mod:`~lossdemos.losses.training` — ``train``: gradient descent on the logits, step by step;
- :mod:`~lossdemos.losses.trace` — :class:`Trace` and :class:`Step`, what every function returns;
- :mod:`~lossdemos.losses.checks` — the input checks, :class:`LossInputError`, and the cheap facts
  about big tensors that the warnings are decided by;
- :mod:`~lossdemos.losses.snippets` — the runnable PyTorch snippet of each trace.

Every function returns a :class:`Trace`:

- ``result`` is exactly what ``torch.nn.functional`` returns for the same tensors, so nothing shown
  to a learner is "almost" PyTorch. The function calls it, or, where that would repeat a full pass
  over a big input, computes it from the step tensors already in hand in ATen's own order of
  operations (cross-entropy and perplexity from their one ``log_softmax``, KL from its pointwise
  terms); the tests check these are bit for bit PyTorch's;
- ``steps`` are the intermediate tensors of the formula, each with a short ``name`` key, a LaTeX
  ``formula`` and a ``note``. The last step, ``loss`` (or the concept's own name), is the formula's
  own answer; the tests prove it equals ``result`` to float32 precision;
- ``warnings`` explain surprising outcomes (NaN means, infinite losses, probabilities passed where
  log-probabilities belong, PyTorch's own ``UserWarning`` for ``kl_div(reduction='mean')``);
- ``code`` is a short runnable PyTorch snippet that prints ``result`` (see
  :mod:`~lossdemos.losses.snippets` for tensors too big to write out).

Shapes and semantics are ``torch.nn.functional``'s: the class dimension is 1, or 0 for 1-D input.
Inputs are float32 (integers are converted) or float64 (kept); other float tensors follow the input's
dtype. Bad input raises :class:`LossInputError` with a sentence a learner understands, checked before
any PyTorch call, so PyTorch's internal error text never reaches the user.

Speed: an upload can be a (512, 32000) tensor, where every full-size temporary (a ``z - m``, a
boolean mask for a warning check) costs as much as the loss itself, mostly in fresh memory. So each
function computes a full-size tensor only for a step it shows, checks for warnings with reductions
(``amax``, ``aminmax``, a row sum) that allocate nothing and look elementwise only when those cannot
decide, and leaves torch's intra-op threads alone.
"""

from lossdemos.losses.bce import binary_cross_entropy_with_logits
from lossdemos.losses.checks import LossInputError
from lossdemos.losses.classification import cross_entropy, nll
from lossdemos.losses.entropy import entropy
from lossdemos.losses.kl import KL_MEAN_WARNING, kl
from lossdemos.losses.perplexity import perplexity
from lossdemos.losses.snippets import MAX_LITERAL_NUMBERS
from lossdemos.losses.softmax import log_softmax, softmax
from lossdemos.losses.trace import PerplexityTrace, Step, Trace

__all__ = [
    "KL_MEAN_WARNING",
    "MAX_LITERAL_NUMBERS",
    "LossInputError",
    "PerplexityTrace",
    "Step",
    "Trace",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "entropy",
    "kl",
    "log_softmax",
    "nll",
    "perplexity",
    "softmax",
]
