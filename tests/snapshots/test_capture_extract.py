"""capture.extract: main text, metadata and a sanitized reader view, or an honest fallback."""

from pathlib import Path

import lxml.html
import pytest

from snapshots.capture.extract import Article, extract

SITE = Path(__file__).parent / "fixtures" / "site"


def page(name: str) -> str:
    return (SITE / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def english() -> Article:
    return extract(page("article.html"), "http://site.test/article.html")


@pytest.fixture(scope="module")
def chinese() -> Article:
    return extract(page("zh/article.html"), "http://site.test/zh/article.html")


def test_english_article_main_text_without_navigation_or_footer(english):
    assert not english.used_fallback
    assert english.text.startswith("Why Gardens Need Slow Water")
    assert "Most of the rain that falls on a city garden never reaches the roots." in english.text
    assert "Once the first basin works, most gardeners dig a second one." in english.text
    assert "© 2024 Fixture Garden" not in english.text
    assert "injected by a script" not in english.text


def test_text_is_plain_with_blank_lines_between_paragraphs(english):
    paragraphs = english.text.split("\n\n")
    assert "Where the water goes" in paragraphs
    assert (
        "- Level the basin floor.\n- Choose deep-rooted plants.\n- Plan for the overflow."
        in paragraphs
    )
    assert "Paving | 90 %" in english.text
    for marker in ("<", "**", "](", "\n\n\n"):
        assert marker not in english.text


def test_english_article_metadata(english):
    assert english.title == "Why Gardens Need Slow Water"
    assert english.author == "Ada Greenwood"
    assert english.site_name == "Fixture Garden"
    assert english.description.startswith("Rain that soaks in feeds a garden")
    assert english.language == "en"
    assert english.image == "http://site.test/img/photo-1600.png"  # og:image made absolute


def test_date_from_explicit_metadata_is_not_a_guess(english):
    assert english.published == "2024-03-18"
    assert english.published_is_guess is False


def test_date_found_only_in_the_text_or_the_url_is_a_guess():
    html = """<html><head><title>Notes</title></head><body><article>
      <h1>Garden notes</h1><p>Posted on 2023-11-02.</p>
      <p>Compost wants air, water and patience; mulch wants only to be left alone.</p>
    </article></body></html>"""
    from_text = extract(html, "http://site.test/notes.html")
    assert from_text.published == "2023-11-02"
    assert from_text.published_is_guess is True
    from_url = extract(
        html.replace("Posted on 2023-11-02.", ""), "http://site.test/2021/05/04/notes.html"
    )
    assert from_url.published == "2021-05-04"
    assert from_url.published_is_guess is True


def test_chinese_article(chinese):
    assert not chinese.used_fallback
    assert chinese.title == "城市雨水花园的建设经验"
    assert "让雨水慢下来，是园丁能做的最便宜、也最有效的改进。" in chinese.text
    assert "最好的开工时间是秋天" in chinese.text
    assert "版权所有" not in chinese.text
    assert chinese.author == "李青"
    assert chinese.site_name == "花园日报"
    assert chinese.language == "zh-CN"
    assert chinese.published == "2024-05-06"
    assert chinese.published_is_guess is False
    assert chinese.image == "https://site.test/img/photo-800.png"


def test_reader_html_keeps_structure(english):
    doc = lxml.html.fragment_fromstring(english.reader_html, create_parent="div")
    assert [h.text for h in doc.iter("h2")] == ["Where the water goes"]
    assert len(doc.findall(".//li")) == 3
    assert doc.find(".//blockquote") is not None
    assert doc.find(".//table") is not None
    assert doc.find(".//em").text == "weeks"
    assert doc.find(".//img").get("src") == "http://site.test/img/photo-800.png"
    assert "http://site.test/about.html" in [a.get("href") for a in doc.iter("a")]


def test_reader_html_never_keeps_scripts_handlers_or_javascript_links(english):
    html = english.reader_html.lower()
    for forbidden in ("<script", "onclick", "javascript:", "<style", "style="):
        assert forbidden not in html


def test_reader_html_is_sanitized_even_when_the_article_itself_is_hostile():
    paragraph = (
        "<p>This paragraph is long enough to be part of the article that gets extracted here.</p>"
    )
    html = f"""<html><head><title>Hostile</title></head><body><article><h1>Hostile</h1>
      {paragraph * 4}
      <p onclick="steal()">Click <a href="javascript:steal()">here</a> or
         <a href="/safe" onmouseover="steal()">there</a>
         <img src="x.png" onerror="steal()"><img src="data:image/png;base64,AAAA" alt="inline">
         <iframe src="https://evil.test/"></iframe><svg onload="steal()"></svg></p>
      <script>steal()</script><style>body{{display:none}}</style>
      {paragraph * 2}
    </article></body></html>"""
    article = extract(html, "https://site.test/hostile.html")
    reader = article.reader_html.lower()
    for forbidden in ("<script", "steal", "javascript:", "<iframe", "<svg", "onerror", "data:"):
        assert forbidden not in reader
    doc = lxml.html.fragment_fromstring(article.reader_html, create_parent="div")
    for el in doc.iter():
        for name in el.attrib:
            assert name in ("href", "src", "alt", "rel", "colspan", "rowspan"), name
        for name in ("href", "src"):
            if el.get(name):
                assert el.get(name).startswith(("http://", "https://")), el.get(name)


def test_page_without_an_article_falls_back_to_title_and_visible_text():
    html = """<html><head><title>Tiny page</title><style>p{color:red}</style></head>
      <body><nav><a href="/">Home</a></nav><p>Hello.</p><script>var hidden = 1</script>
      <div hidden>not shown</div><footer>Footer</footer></body></html>"""
    article = extract(html, "http://site.test/tiny.html")
    assert article.used_fallback
    assert article.title == "Tiny page"
    assert article.text == "Hello."
    assert article.reader_html == "<p>Hello.</p>"


def test_fallback_title_prefers_open_graph():
    html = '<html><head><meta property="og:title" content="The real title"><title>x</title></head><body></body></html>'
    article = extract(html, "http://site.test/")
    assert article.used_fallback
    assert article.title == "The real title"


def test_fallback_text_keeps_paragraphs_apart_and_escapes_reader_html():
    html = "<html><body><div>First &lt;b&gt; block</div><div>Second block</div></body></html>"
    article = extract(html, "http://site.test/")
    assert article.text == "First <b> block\n\nSecond block"
    assert article.reader_html == "<p>First &lt;b&gt; block</p><p>Second block</p>"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "garbage \x00\x01 bytes",
        '{"json": true}',
        "<html>",
        "<<<>>>",
        "\ufeff",
        "<?xml version='1.0'?>",
    ],
)
def test_odd_input_returns_a_fallback_article_and_never_raises(html):
    article = extract(html, "not a url")
    assert article.used_fallback
    assert article.image == ""
    assert "\x00" not in article.text
    assert "\x01" not in article.text


def test_extraction_of_a_chinese_page_without_language_declaration_guesses_zh():
    body = "<p>" + "雨水花园让雨水就地下渗，既节约灌溉用水，又减轻排水压力。" * 8 + "</p>"
    article = extract(
        f"<html><head><title>雨水</title></head><body><article>{body}</article></body></html>", ""
    )
    assert article.language == "zh"


def test_the_title_is_the_pages_own_not_a_lone_heading():
    html = """<html><head><title>困惑度与负对数似然的关系</title></head><body><article>
      <h1>困惑度</h1><p>困惑度是平均负对数似然的指数，衡量模型在每个词上平均有多少种同样可能的选择。</p>
      <p>它越低，模型对下一个词越有把握；完全随机的猜测的困惑度等于词表大小。</p>
    </article></body></html>"""
    assert extract(html, "http://site.test/ppl.html").title == "困惑度与负对数似然的关系"


def chinese_short_article_page() -> str:
    menu = "".join(f'<li><a href="/c/{i}">栏目{i}：博客专栏与热门推荐</a></li>' for i in range(40))
    related = "".join(
        f'<li><a href="/a/{i}">相关文章第{i}篇：如何学好编程</a></li>' for i in range(20)
    )
    return f"""<html lang="zh-CN"><head><title>困惑度与负对数似然的关系</title></head><body>
      <div class="toolbar"><ul>{menu}</ul></div>
      <article><h1>困惑度与负对数似然的关系</h1>
        <p>困惑度是语言模型常用的评价指标，它等于平均负对数似然取指数。模型对下一个词越有把握，困惑度越低。</p>
        <p>因此，交叉熵损失下降一半的比特数，困惑度就相应地按指数缩小，两者描述的是同一件事。</p>
      </article>
      <div class="recommend"><ul>{related}</ul></div>
      <footer>版权所有 © 示例网站</footer></body></html>"""


def test_short_chinese_article_is_kept_instead_of_the_page_navigation():
    article = extract(chinese_short_article_page(), "https://blog.example.cn/article/1")
    assert len(article.text) < 250  # short in characters, yet the whole article
    assert not article.used_fallback
    assert "困惑度是语言模型常用的评价指标" in article.text
    assert "两者描述的是同一件事" in article.text
    assert "栏目" not in article.text
    assert "相关文章" not in article.text


def test_photo_credit_is_left_out_of_the_main_text():
    paragraphs = "".join(
        f"<p>Paragraph {i} of the story about slow water in city gardens, and why it matters "
        "for every plant that grows there.</p>"
        for i in range(6)
    )
    html = f"""<html lang="en"><head><title>Slow water</title></head><body><article>
      <h1>Slow water</h1>{paragraphs}
      <figure><img src="/rain.jpg" alt="Rain"><figcaption>Rain on a roof garden.
        <span class="photo-credit">Photo: Jane Doe / Agency</span></figcaption></figure>
      <p>The last paragraph says what to do next: dig a shallow basin.</p>
      <div class="copyright">© 2024 Agency. All rights reserved.</div>
    </article></body></html>"""
    article = extract(html, "https://news.example/slow-water")
    assert "Paragraph 5 of the story" in article.text
    assert "dig a shallow basin" in article.text
    assert "Jane Doe" not in article.text
    assert "All rights reserved" not in article.text


ARTICLE_BODY = (
    "<p>Compost wants air, water and patience; mulch wants only to be left alone. "
    "A garden bed that drains slowly keeps its worms and its roots through the summer.</p>"
)


def test_a_sites_founding_year_or_copyright_is_not_a_published_date():
    for footer in (
        "<footer><p>© 2003–2024 Fixture Garden. All rights reserved.</p></footer>",
        "<footer><p>Fixture Garden, founded in 1998.</p></footer>",
        "<footer><p>版权所有 © 2009 花园日报</p></footer>",
    ):
        html = (
            "<html><head><title>Notes</title></head><body><article><h1>Garden notes</h1>"
            f"{ARTICLE_BODY * 3}</article>{footer}</body></html>"
        )
        article = extract(html, "http://site.test/notes.html")
        assert article.published is None, footer
        assert article.published_is_guess is False


def test_the_articles_own_time_element_is_its_date():
    html = (
        "<html><head><title>Notes</title></head><body><aside><time datetime='2020-01-01'>"
        "archive</time></aside><article><h1>Garden notes</h1>"
        f"<p>By Ada, <time datetime='2022-07-09T08:00:00Z'>9 July</time></p>{ARTICLE_BODY * 3}"
        "</article><footer>© 2003 Fixture Garden</footer></body></html>"
    )
    article = extract(html, "http://site.test/notes.html")
    assert article.published == "2022-07-09"
    assert article.published_is_guess is False


def test_json_ld_date_published_counts():
    html = (
        '<html><head><title>Notes</title><script type="application/ld+json">'
        '{"@type": "Article", "datePublished": "2019-02-03T10:00:00+08:00"}</script></head><body>'
        f"<article><h1>Garden notes</h1>{ARTICLE_BODY * 3}</article>"
        "<footer>© 2003 Fixture Garden</footer></body></html>"
    )
    assert extract(html, "http://site.test/notes.html").published == "2019-02-03"
