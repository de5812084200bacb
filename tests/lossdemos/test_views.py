"""The loss demo pages without a browser: every page renders, the GET form computes, errors say where."""

import io
import json
import os
import re
import time

import numpy as np
import pytest
from django.test import Client

from lossdemos import content
from lossdemos.views import CONCEPTS
from snapshots.models import Link
from tests.support.pages import visible_text as text_of

pytestmark = pytest.mark.django_db

PAGES = ["/losses/", "/losses/mistakes/", *[f"/losses/{slug}/" for slug in CONCEPTS]]


@pytest.fixture
def client(user):
    # a fresh install redirects every page to the first-account setup; an account exists here
    return Client()


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_renders_in_english_and_chinese(client, url, language):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 200
    assert f'<html lang="{language}"' in response.content.decode()  # then the theme's attribute


def test_chinese_page_shows_the_chinese_explanation(client):
    response = client.get("/losses/softmax/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "<h1>Softmax 与 log-softmax</h1>" in response.content.decode()


def test_concept_page_computes_its_prefilled_example(client):
    page = text_of(client.get("/losses/cross-entropy/"))

    assert "0.4170" in page
    assert "0.3064" in page
    assert "import torch" in page


def test_get_form_gives_the_same_numbers_as_the_api(client):
    query = {"logits": "0.5 -1 3\n2 2 0", "target": "2 0", "reduction": "none", "base": "e"}
    api = client.post(
        "/api/losses/cross-entropy",
        data=json.dumps({**query, "target": [2, 0]}),
        content_type="application/json",
    ).json()

    page = text_of(client.get("/losses/cross-entropy/", query))

    for value in api["result"]:
        assert f"{value:.4f}" in page


def test_the_url_carries_the_calculation_in_the_forms_fields(client):
    response = client.get("/losses/kl/", {"input": "-1 -0.5", "target": "0.3 0.7"})
    html = response.content.decode()

    assert re.search(r'<form class="form demo-form" method="get"', html)
    assert re.search(r'name="input"[^>]*>\s*-1 -0.5</textarea>', html)
    assert re.search(r'name="target"[^>]*>\s*0.3 0.7</textarea>', html)


def test_ragged_row_shows_its_located_error_next_to_the_field(client):
    response = client.get("/losses/cross-entropy/", {"logits": "1 2 3\n4 5", "target": "0 1"})

    assert response.status_code == 200
    html = response.content.decode()
    slot = re.search(r'data-live-error="logits"[^>]*>([^<]*)<', html)
    assert slot
    assert slot.group(1) == "row 2 has 2 values, the others have 3"
    assert 'data-error-field="logits">row 2 has 2 values, the others have 3<' in html


def test_target_out_of_range_is_shown_on_the_target_field(client):
    response = client.get("/losses/cross-entropy/", {"logits": "1 2 3", "target": "7"})

    slot = re.search(r'data-live-error="target"[^>]*>([^<]*)<', response.content.decode())
    assert slot
    assert "7" in slot.group(1)


@pytest.mark.parametrize(
    "query",
    [
        {"logits": "abc", "target": "0"},
        {"logits": "[[1, 2], [3]]", "target": "0 1"},
        {"logits": "1 2", "target": "0.5"},
        {"logits": "1 2", "target": "0", "label_smoothing": "7"},
        {"logits": "1 2", "target": "0", "reduction": "median"},
        {"logits": "tensor([[1., 2.]]", "target": "0"},
        {"logits": "", "target": ""},
        {"logits": "[" * 5000, "target": "0"},
    ],
)
def test_bad_input_is_a_form_error_never_a_server_error(client, query):
    response = client.get("/losses/cross-entropy/", query)

    assert response.status_code == 200
    assert 'class="demo-errors"' in response.content.decode()


def test_overflowing_numbers_compute_as_infinity_like_pytorch(client):
    response = client.get("/losses/softmax/", {"logits": "1e400 2"})

    assert response.status_code == 200
    assert "nan" in text_of(response)  # inf - max(inf) = nan, exactly as torch.softmax


def test_fragment_answers_only_the_results(client):
    response = client.get(
        "/losses/softmax/", {"logits": "2 1 0.1", "dim": "-1", "fragment": "results"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "0.6590" in html
    assert 'role="img"' in html  # the probability chart


def test_results_show_steps_with_mathml_formulas_and_charts(client):
    html = client.get("/losses/cross-entropy/").content.decode()

    assert html.count('class="step"') >= 3
    assert "<math" in html
    assert re.search(r'<svg class="chart-svg" role="img" aria-label="[^"]+"', html)
    assert "<title>" in html


def test_big_tensors_are_truncated_with_an_ellipsis_and_a_note(client):
    rows = "\n".join(" ".join(str(i + j) for j in range(40)) for i in range(30))
    html = client.get("/losses/softmax/", {"logits": rows}).content.decode()

    assert "…" in html
    assert "showing a corner of 1,200 numbers" in html


def test_bits_switch_changes_the_unit(client):
    nats = text_of(client.get("/losses/entropy/", {"given": "counts", "numbers": "1 1 1"}))
    bits = text_of(
        client.get("/losses/entropy/", {"given": "counts", "numbers": "1 1 1", "base": "2"})
    )

    assert "1.0986" in nats
    assert "1.5850" in bits


def test_kl_mean_shows_pytorchs_warning(client):
    page = text_of(
        client.get("/losses/kl/", {"input": "-1 -0.5", "target": "0.3 0.7", "reduction": "mean"})
    )

    assert "Warning" in page
    assert "batchmean" in page


def test_perplexity_page_shows_each_sequence(client):
    page = text_of(client.get("/losses/perplexity/"))

    assert "Perplexity of each sequence" in page
    assert "Mean token NLL" in page


def npy_upload(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    buffer.seek(0)
    buffer.name = "logits.npy"
    return buffer


def test_npy_upload_on_the_page_computes_the_file(client):
    logits = np.array([[0.5, -1, 3], [2, 2, 0]], dtype=np.float32)

    response = client.post(
        "/losses/cross-entropy/",
        {
            "upload-logits_file": npy_upload(logits),
            "upload-target": "2 0",
            "upload-reduction": "none",
            "upload-base": "e",
        },
    )

    page = text_of(response)
    assert response.status_code == 200
    assert "Results for the uploaded form." in page
    assert "0.0957" in page  # cross_entropy([0.5, -1, 3], 2)
    assert "0.7586" in page


def test_a_long_calculation_posted_by_the_page_script_answers_the_fragment(client):
    logits = "\n".join(" ".join(["0.5"] * 50) for _ in range(40))

    response = client.post(
        "/losses/softmax/?fragment=results", {"upload-logits": logits, "upload-dim": "-1"}
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "0.0200" in html  # 1/50
    assert "Results for the uploaded form." not in html


def test_npy_upload_form_needs_the_csrf_token(user):
    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/losses/softmax/", {"upload-logits": "1 2"})

    assert response.status_code == 403


def test_a_broken_npy_upload_is_a_form_error(client):
    broken = io.BytesIO(b"\x93NUMPY garbage")
    broken.name = "logits.npy"

    response = client.post("/losses/softmax/", {"upload-logits_file": broken})

    assert response.status_code == 200
    assert "not a valid .npy file" in text_of(response)


def test_likelihood_demo_marks_the_sample_mean(client):
    page = text_of(client.get("/losses/nll/", {"outcomes": "1 1 0 1"}))

    assert "3 heads in 4 flips: the sample mean is 0.7500" in page
    assert "p = 0.7500" in page  # the grid's lowest point agrees


def test_likelihood_fragment_and_its_located_error(client):
    fragment = client.get("/losses/nll/", {"outcomes": "1 0 2", "fragment": "likelihood"})

    html = fragment.content.decode()
    assert "<html" not in html
    assert "outcome 3 is 2; enter only 0 and 1" in html


def test_all_heads_puts_the_minimum_at_one(client):
    page = text_of(client.get("/losses/nll/", {"outcomes": "1 1 1"}))

    assert "the sample mean is 1.0000" in page


def test_mistakes_page_shows_wrong_and_right_for_every_mistake(client):
    html = client.get("/losses/mistakes/").content.decode()

    for mistake_id in [
        "probs-to-nll",
        "probs-to-kl",
        "softmax-before-ce",
        "class-dim",
        "kl-mean-vs-batchmean",
        "log-softmax-underflow",
        "perplexity-mean-vs-corpus",
    ]:
        assert f'id="{mistake_id}"' in html
    assert html.count('class="side side--wrong"') == html.count('class="side side--right"') >= 7
    assert "−inf" in html  # log(softmax([0, 200])) underflows
    assert "-200.0000" in html  # log_softmax does not


def test_a_mistake_recomputes_from_its_own_fields(client):
    response = client.get(
        "/losses/mistakes/",
        {
            "mistake": "probs-to-nll",
            "probs-to-nll-logits": "0 0",
            "probs-to-nll-target": "1",
            "fragment": "mistake",
        },
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "-0.5000" in html  # minus the probability 0.5: a negative "loss"
    assert "0.6931" in html  # ln 2, the real cross-entropy


def test_a_mistake_with_bad_input_shows_the_error(client):
    response = client.get(
        "/losses/mistakes/",
        {"mistake": "log-softmax-underflow", "log-softmax-underflow-logits": "0 x"},
    )

    assert response.status_code == 200
    assert "&#x27;x&#x27; is not a number" in response.content.decode()


def test_unknown_concept_is_404(client):
    assert client.get("/losses/hinge/").status_code == 404


def test_library_links_tagged_with_the_concept_are_listed(client, user, other_user):
    mine = Link.objects.create(
        owner=user, url="https://example.org/ce", normalized_url="https://example.org/ce"
    )
    mine.tags.add("cross-entropy")
    hidden = Link.objects.create(
        owner=other_user,
        url="https://example.org/secret",
        normalized_url="https://example.org/secret",
        private=True,
    )
    hidden.tags.add("cross-entropy")
    client.force_login(user)

    html = client.get("/losses/cross-entropy/").content.decode()

    assert f'href="/links/{mine.pk}/"' in html
    assert f'href="/links/{hidden.pk}/"' not in html
    assert 'href="/links/add/?tags=cross-entropy"' in html


def test_concept_tags_come_from_settings(client, user, settings):
    settings.KB_CONCEPT_TAGS = {"kl": ["relative-entropy"]}
    link = Link.objects.create(
        owner=user, url="https://example.org/kl", normalized_url="https://example.org/kl"
    )
    link.tags.add("Relative-Entropy")
    client.force_login(user)

    html = client.get("/losses/kl/").content.decode()

    assert f'href="/links/{link.pk}/"' in html
    assert 'href="/links/add/?tags=relative-entropy"' in html


def test_index_links_every_concept_and_the_mistakes(client):
    html = client.get("/losses/").content.decode()

    for slug in CONCEPTS:
        assert f'href="/losses/{slug}/"' in html
    assert 'href="/losses/mistakes/"' in html


def test_pages_need_no_inline_script_or_style(client):
    for url in PAGES:
        html = client.get(url).content.decode()
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


# --- the content files ----------------------------------------------------------------------------


@pytest.fixture
def content_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(content, "CONTENT_DIR", tmp_path)
    return tmp_path


def test_explanation_falls_back_to_english_then_to_nothing(content_dir):
    (content_dir / "kl.en.md").write_text("# KL\n\nIntro.\n\n## Asymmetry {#asymmetry}\n\nText.")

    chinese = content.explanation("kl", "zh-hans")
    missing = content.explanation("hinge", "en")

    assert chinese.language == "en"
    assert chinese.title == "KL"
    assert list(chinese.sections) == ["asymmetry"]
    assert not missing


def test_explanation_is_rerendered_when_the_file_changes(content_dir):
    path = content_dir / "entropy.en.md"
    path.write_text("# First")
    assert content.explanation("entropy", "en").title == "First"

    path.write_text("# Second")
    later = time.time() + 5
    os.utime(path, (later, later))

    assert content.explanation("entropy", "en").title == "Second"


def test_explanation_formulas_become_mathml(content_dir):
    (content_dir / "nll.en.md").write_text("Loss $-\\log p$.\n\n## Demo {#demo}\n\n$$x^2$$")

    rendered = content.explanation("nll", "en")

    assert "<math" in rendered.intro
    assert "<math" in rendered.sections["demo"].body
