"""Loss demo pages: the index, one page per concept, and the common mistakes.

Every page is a GET form: the URL carries the calculation, so it works without JavaScript and a
shared link reproduces it. ``?fragment=results`` (and ``likelihood``, ``mistake``) answer only the
part that changes, which ``live.js`` swaps in as the reader types. Uploading an ``.npy`` file is the
one POST (multipart, CSRF-protected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from kb.messages import translated
from lossdemos import admission, engine, exercises
from lossdemos import forms as demo_forms
from lossdemos.content import explanation
from lossdemos.errors import InputError
from lossdemos.explore import EXPLORE_CONCEPTS
from snapshots.queries import links_for_concept


@dataclass(frozen=True)
class Concept:
    slug: str
    title: Promise
    summary: Promise
    form_class: type[demo_forms.DemoForm]
    example: dict[str, str] = field(default_factory=dict)


CONCEPTS: dict[str, Concept] = {
    concept.slug: concept
    for concept in [
        Concept(
            "softmax",
            _("Softmax and log-softmax"),
            _("From a row of scores to a probability distribution, and why the log form is safer."),
            demo_forms.SoftmaxForm,
            {"logits": "2 1 0.1\n1 2.5 0.5", "dim": "-1"},
        ),
        Concept(
            "entropy",
            _("Entropy"),
            _("The average surprise of a distribution, in bits or nats."),
            demo_forms.EntropyForm,
            {"given": "counts", "numbers": "1 1 1\n8 1 1", "base": "2"},
        ),
        Concept(
            "nll",
            _("Negative log-likelihood"),
            _("Maximum likelihood turned into a loss: the log-probability of the right answer."),
            demo_forms.NllForm,
            {
                "input": "-0.4170 -1.4170 -2.3170\n-1.8064 -0.3064 -2.3064",
                "target": "0 1",
                "ignore_index": "-100",
                "reduction": "mean",
                "base": "e",
            },
        ),
        Concept(
            "cross-entropy",
            _("Cross-entropy"),
            _("log-softmax plus NLL in one call: the loss of nearly every classifier."),
            demo_forms.CrossEntropyForm,
            {
                "logits": "2 1 0.1\n1 2.5 0.5",
                "target": "0 1",
                "ignore_index": "-100",
                "label_smoothing": "0",
                "reduction": "mean",
                "base": "e",
            },
        ),
        Concept(
            "kl",
            _("KL divergence"),
            _("How many extra nats a wrong distribution costs; why it is not symmetric."),
            demo_forms.KlForm,
            {
                "input": "-0.4170 -1.4170 -2.3170\n-1.8064 -0.3064 -2.3064",
                "target": "0.7 0.2 0.1\n0.1 0.8 0.1",
                "reduction": "batchmean",
                "base": "e",
            },
        ),
        Concept(
            "perplexity",
            _("Perplexity"),
            _("exp of the mean token NLL: per sentence and for a whole corpus."),
            demo_forms.PerplexityForm,
            {
                "logits": "2 0.5 0.1 -1\n0.2 1.5 0.3 0\n0.1 0.2 2.2 0.3\n1 1 1 1\n0.5 2 0 -0.5",
                "target": "0 1 2 3 1",
                "sequence_ids": "0 0 0 1 1",
                "ignore_index": "-100",
                "base": "e",
            },
        ),
    ]
}


def _links_for(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The reader's library links tagged with this concept, and where to add one."""
    tags = list(settings.KB_CONCEPT_TAGS.get(slug, []))
    links = list(links_for_concept(request.user, tags)[:20]) if tags else []
    add_url = reverse("snapshots:link_add")
    if tags:
        add_url += "?" + urlencode({"tags": tags[0]})
    return {"library_links": links, "library_tags": tags, "add_link_url": add_url}


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    cards = [
        {"concept": concept, "url": reverse("lossdemos:concept", args=[concept.slug])}
        for concept in CONCEPTS.values()
    ]
    return render(
        request,
        "lossdemos/index.html",
        {"cards": cards, "intro": explanation("index"), "mistakes": engine.mistakes()},
    )


def _bound_form(concept: Concept, request: HttpRequest) -> demo_forms.DemoForm:
    form_class = concept.form_class
    submitted = [name for name in form_class.base_fields if name in request.GET]
    if submitted and not set(submitted) <= OPTIONS_ON_THE_EXAMPLE:
        return form_class(request.GET)
    # ?grad=on or ?steps=20 alone: the example, with the gradient or a training run shown
    return form_class({**concept.example, **{name: request.GET[name] for name in submitted}})


# Fields that, given alone, add to the page's example instead of replacing it.
OPTIONS_ON_THE_EXAMPLE = {"grad", "steps", "learning_rate"}


@require_http_methods(["GET", "HEAD", "POST"])
def concept_page(request: HttpRequest, slug: str) -> HttpResponse:
    concept = CONCEPTS.get(slug)
    if concept is None:
        raise Http404(_("There is no loss demo called “%(name)s”.") % {"name": slug})
    form_class = concept.form_class
    fragment = request.GET.get("fragment")
    if request.method == "POST":
        upload_form = form_class(request.POST, request.FILES, upload=True, prefix="upload")
        form = form_class(concept.example)
        active = upload_form
    else:
        upload_form = form_class(upload=True, prefix="upload")
        form = _bound_form(concept, request)
        active = form
    active.is_valid()
    results = _results(active)
    status = 200
    if active.busy is not None:
        results["busy"] = translated(active.busy.message)
        status = 503
    context: dict[str, Any] = {
        "concept": concept,
        "form": form,
        "upload_form": upload_form,
        # a POST is the upload form, or live.js sending a calculation too long for an address
        "uploaded": request.method == "POST" and fragment != "results",
        "active_form": active,
        **results,
    }
    if fragment == "results":
        return _busy_aware(
            render(request, "lossdemos/concept.html#results", context, status=status)
        )
    if slug == "nll":
        context.update(likelihood(request))
        if fragment == "likelihood":
            return render(request, "lossdemos/concept.html#likelihood", context)
    context["explanation"] = explanation(slug)
    # The coin demo sits right after the explanation's section about it, else after the explanation.
    if slug == "nll" and LIKELIHOOD_SECTION in context["explanation"].sections:
        context["likelihood_after"] = LIKELIHOOD_SECTION
        context["likelihood_placed"] = True
    context.update(_links_for(request, slug))
    context.update(exercises.page_context(slug, request.GET))
    if slug in EXPLORE_CONCEPTS:
        context["explore_url"] = reverse("lossdemos:explore", args=[slug])
    context["concepts"] = CONCEPTS.values()
    return _busy_aware(render(request, "lossdemos/concept.html", context, status=status))


def _busy_aware(response: HttpResponse) -> HttpResponse:
    """A page refused for want of a calculation slot says when to come back, as the API does."""
    if response.status_code == 503:
        response["Retry-After"] = str(admission.RETRY_AFTER_SECONDS)
    return response


def _results(form: demo_forms.DemoForm) -> dict[str, Any]:
    if form.computation is None or form.errors:
        return {"results": None, "errors": form.field_errors(), "error_form": form}
    results = engine.page_results(form.computation)
    results["gradient"] = engine.page_gradient(form.computation)
    if form.training is not None:
        results["training"] = engine.page_training(form.training)
        results["training"]["note"] = form.training_note
    return {"results": results, "errors": []}


# --- the maximum-likelihood demo (NLL page) ----------------------------------------------------

LIKELIHOOD_EXAMPLE = "1 0 1 1 0 1 1"
LIKELIHOOD_SECTION = "coin-demo"


def likelihood(request: HttpRequest) -> dict[str, Any]:
    """Bernoulli outcomes → their NLL over p ∈ (0, 1), lowest at the sample mean."""
    submitted = "outcomes" in request.GET
    form = demo_forms.LikelihoodForm(request.GET if submitted else {"outcomes": LIKELIHOOD_EXAMPLE})
    context: dict[str, Any] = {"likelihood_form": form, "likelihood": None}
    if not form.is_valid():
        return context
    try:
        context["likelihood"] = engine.coin_likelihood(form.cleaned_data["outcomes"])
    except InputError as exc:
        form.add_error("outcomes", translated(exc.message))
    return context


# --- common mistakes ----------------------------------------------------------------------------


@require_GET
def mistakes(request: HttpRequest) -> HttpResponse:
    """Each mistake: its explanation beside wrong-vs-right, computed live from a small example."""
    content = explanation("mistakes")
    chosen = request.GET.get("mistake")
    fragment = request.GET.get("fragment") == "mistake"
    sections = []
    for mistake in engine.mistakes():
        if fragment and mistake.id != chosen:
            continue
        data = request.GET if mistake.id == chosen else None
        sections.append(mistake.run(data, content.sections.get(mistake.id)))
    if fragment:
        if not sections:
            raise Http404(_("There is no such mistake on this page."))
        return render(request, "lossdemos/mistakes.html#comparison", {"section": sections[0]})
    return render(
        request,
        "lossdemos/mistakes.html",
        {"sections": sections, "explanation": content, "concepts": CONCEPTS.values()},
    )
