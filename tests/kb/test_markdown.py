"""Markdown rendering: formulas become MathML, and nothing unsafe survives."""

from kb.markdown import render_markdown


def test_inline_and_display_formulas_become_mathml():
    out = render_markdown(
        "Softmax: $p_i = \\frac{e^{z_i}}{\\sum_j e^{z_j}}$\n\n$$H(p) = -\\sum_x p(x) \\log p(x)$$",
        math=True,
    )
    assert out.count("<math") == 2
    assert 'display="block"' in out
    assert "<mfrac>" in out
    assert "arithmatex" not in out


def test_formula_with_less_than_is_converted_not_escaped_twice():
    out = render_markdown("$a < b$", math=True)
    assert "<mo>&lt;</mo>" in out


def test_script_and_event_handlers_are_removed_from_notes():
    out = render_markdown(
        '<script>alert(1)</script><img src="x" onerror="alert(2)"> [x](javascript:alert(3)) **ok**'
    )
    assert "<script" not in out
    assert "onerror" not in out
    assert "javascript:" not in out
    assert "<strong>ok</strong>" in out


def test_links_in_notes_open_safely():
    out = render_markdown("[kb](https://example.org/page)")
    assert 'href="https://example.org/page"' in out
    assert "noopener" in out


def test_notes_do_not_get_mathml():
    out = render_markdown("<math><mi>x</mi></math> costs $5 and $6")
    assert "<math" not in out


def test_a_line_break_inside_chinese_text_is_not_a_space():
    out = render_markdown(
        "它是负的，\n而且恰好是目标概率的相反数。\nEnglish\nwords keep their space."
    )
    assert "它是负的，而且恰好是目标概率的相反数。" in out
    assert "English\nwords" in out


def test_code_blocks_keep_their_line_breaks():
    out = render_markdown("```\n# 第一行\n第二行\n```")
    assert "第一行\n第二行" in out
