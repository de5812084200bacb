"""The loss-demo explanations: both languages present, every formula converts, every example runs.

Each ```python block in a content file is executed in a fresh namespace and must print exactly
the ```text block that follows it — so the numbers the pages quote are the numbers torch gives.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

from kb.markdown import render_markdown

CONTENT = Path(__file__).resolve().parents[2] / "lossdemos" / "content"
CONCEPTS = ["index", "softmax", "entropy", "nll", "cross-entropy", "kl", "perplexity", "mistakes"]
LANGS = ["en", "zh-hans"]
MISTAKE_IDS = [
    "probs-to-nll",
    "probs-to-kl",
    "softmax-before-ce",
    "class-dim",
    "kl-mean-vs-batchmean",
    "log-softmax-underflow",
    "perplexity-mean-vs-corpus",
]
PAGES = [(concept, lang) for concept in CONCEPTS for lang in LANGS]

# A fenced python block, optionally followed (blank lines only in between) by a fenced text block.
FENCE = re.compile(
    r"^```python\n(?P<code>.*?)^```\n(?:\s*^```text\n(?P<output>.*?)^```\n)?", re.M | re.S
)


def read(concept: str, lang: str) -> str:
    return (CONTENT / f"{concept}.{lang}.md").read_text(encoding="utf-8")


def examples(text: str) -> list[tuple[str, str | None]]:
    return [(m["code"], m["output"]) for m in FENCE.finditer(text)]


def section_ids(html: str) -> list[str]:
    return re.findall(r'<h2 id="([^"]+)"', html)


@pytest.mark.parametrize(("concept", "lang"), PAGES)
def test_page_exists(concept, lang):
    assert (CONTENT / f"{concept}.{lang}.md").is_file()


@pytest.mark.parametrize(("concept", "lang"), PAGES)
def test_page_starts_with_its_title(concept, lang):
    text = read(concept, lang)
    assert text.startswith("# "), f"{concept}.{lang}.md must start with '# Title'"
    assert text.count("\n# ") == 0, "only one H1 per page"


@pytest.mark.parametrize(("concept", "lang"), PAGES)
def test_every_formula_becomes_mathml(concept, lang):
    text = read(concept, lang)
    html = render_markdown(text, math=True)
    assert '<code class="tex">' not in html, "a formula fell back to its LaTeX source"
    assert "arithmatex" not in html
    for formula in re.findall(r"<math.*?</math>", html, flags=re.S):
        assert "\\" not in formula, f"a LaTeX command leaked into the MathML: {formula[:200]}"
    if "$" in re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S):
        assert "<math" in html
    prose = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", html, flags=re.S)
    assert "$" not in prose, "an unmatched $ was left as text"
    assert "<img" not in html
    assert "<script" not in html


@pytest.mark.parametrize(("concept", "lang"), PAGES)
def test_page_has_no_raw_html(concept, lang):
    # Code and formulas may contain "<"; the prose around them may not carry HTML tags.
    text = re.sub(
        r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$", "", read(concept, lang), flags=re.S
    )
    assert not re.search(r"<[a-zA-Z/!]", text), "no raw HTML in explanations"


@pytest.mark.parametrize("concept", CONCEPTS)
def test_both_languages_have_the_same_sections_and_examples(concept):
    en, zh = read(concept, "en"), read(concept, "zh-hans")
    assert section_ids(render_markdown(en, math=True)) == section_ids(
        render_markdown(zh, math=True)
    )
    # Same code, same printed numbers; only comments may be translated.
    strip = lambda code: re.sub(r"\s*#.*", "", code)  # noqa: E731
    assert [(strip(c), o) for c, o in examples(en)] == [(strip(c), o) for c, o in examples(zh)]


@pytest.mark.parametrize("lang", LANGS)
def test_mistakes_page_has_one_section_per_mistake(lang):
    html = render_markdown(read("mistakes", lang), math=True)
    ids = section_ids(html)
    for mistake in MISTAKE_IDS:
        assert f'<h2 id="{mistake}">' in html
    assert ids == MISTAKE_IDS


def test_concept_pages_use_explicit_section_ids():
    # Anchors must not depend on the heading text, so EN and ZH pages link the same way.
    for concept in CONCEPTS:
        for lang in LANGS:
            for line in read(concept, lang).splitlines():
                if line.startswith("## "):
                    assert re.search(r"\{#[a-z0-9-]+\}\s*$", line), line


EXAMPLES = [
    pytest.param(code, output, id=f"{concept}.{lang}#{i}")
    for concept, lang in PAGES
    if (CONTENT / f"{concept}.{lang}.md").is_file()
    for i, (code, output) in enumerate(examples(read(concept, lang)))
]


@pytest.mark.parametrize(("code", "output"), EXAMPLES)
def test_example_runs_and_prints_what_the_page_says(code, output):
    assert output is not None, "every python example is followed by a ```text block of its output"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})
    assert stdout.getvalue().rstrip() == output.rstrip()
