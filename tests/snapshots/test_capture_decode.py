"""snapshots.capture.decode: bytes → text without mojibake."""

from __future__ import annotations

import codecs
import dataclasses

import pytest

from snapshots.capture.decode import Decoded, decode

CHINESE_SIMPLIFIED = (
    "知识库是一个保存网页快照的工具。我们把每一个页面连同它的样式和图片一起保存下来，"
    "这样即使原网站关闭，内容也不会丢失。交叉熵损失函数衡量两个概率分布之间的差异，"
    "在分类任务中被广泛使用。"
)
CHINESE_TRADITIONAL = (
    "知識庫是一個保存網頁快照的工具。我們把每一個頁面連同它的樣式和圖片一起保存下來，"
    "這樣即使原網站關閉，內容也不會遺失。交叉熵損失函數衡量兩個機率分佈之間的差異，"
    "在分類任務中被廣泛使用。"
)
JAPANESE = (
    "ナレッジベースはウェブページのスナップショットを保存するツールです。"
    "各ページをスタイルシートや画像と一緒に保存するので、元のサイトが閉鎖されても内容は"
    "失われません。交差エントロピー損失は二つの確率分布の違いを測る関数です。"
)
KOREAN = (
    "지식 베이스는 웹 페이지의 스냅샷을 저장하는 도구입니다. 각 페이지를 스타일시트와 이미지와 "
    "함께 저장하므로 원래 사이트가 닫혀도 내용은 사라지지 않습니다. 교차 엔트로피 손실은 두 "
    "확률 분포의 차이를 측정하는 함수로 분류 문제에서 널리 사용됩니다."
)
FRENCH = (
    "Le café de la gare était fermé, alors nous avons marché jusqu’à l’hôtel. "
    "« Où est la bibliothèque ? » demanda-t-elle. Les élèves étudiaient l’entropie croisée — "
    "une fonction très utilisée — pendant que le garçon préparait des crêpes à 5 €."
)
MIXED_UTF8 = (
    "Größere Übungen: der Kreuzentropie-Verlust misst den Unterschied zwischen zwei "
    "Verteilungen. Ελληνικά: η εντροπία. 中文：交叉熵。 Emoji 📚 and “quotes”, naïve café."
)


def page(text: str, lang: str = "en", head: str = "") -> str:
    """A small but realistic page: markup, a stylesheet, a script, and the text three times."""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>{head}
<title>{text[:12]}</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/app.js" defer></script>
<style>body {{ font-family: sans-serif; margin: 0 auto; max-width: 40em; }}</style>
</head>
<body>
<header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
<main><article>
<h1>{text[:20]}</h1>
<p>{text}</p>
<p>{text[10:70]}</p>
</article></main>
<footer><p>&copy; 2024 <a href="/contact">Contact</a></p></footer>
</body>
</html>
"""


# --- no declaration at all: detection -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "codec", "expected_encoding"),
    [
        (CHINESE_SIMPLIFIED, "zh-CN", "gbk", "gb18030"),
        (CHINESE_TRADITIONAL, "zh-TW", "big5", "big5hkscs"),
        (JAPANESE, "ja", "shift_jis", "cp932"),
        (KOREAN, "ko", "euc-kr", "cp949"),
        (FRENCH, "fr", "windows-1252", "cp1252"),
        (MIXED_UTF8, "de", "utf-8", "utf-8"),
    ],
    ids=["gbk", "big5", "shift_jis", "euc-kr", "windows-1252", "utf-8"],
)
def test_page_without_charset_header_or_meta_decodes(text, lang, codec, expected_encoding):
    html = page(text, lang)
    decoded = decode(html.encode(codec), "text/html")
    assert decoded.text == html
    assert decoded.encoding == expected_encoding


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (CHINESE_SIMPLIFIED, "gbk"),
        (CHINESE_TRADITIONAL, "big5"),
        (JAPANESE, "shift_jis"),
        (KOREAN, "euc-kr"),
        (FRENCH, "windows-1252"),
    ],
    ids=["gbk", "big5", "shift_jis", "euc-kr", "windows-1252"],
)
def test_long_page_without_declaration_decodes(text, codec):
    """Longer than the detection sample, whose end would otherwise split a character."""
    html = page(text * 1500)
    body = html.encode(codec)
    assert len(body) > 256 * 1024
    assert decode(body).text == html


def test_gbk_page_without_charset_header_decodes():
    html = page(CHINESE_SIMPLIFIED, "zh-CN")
    assert decode(html.encode("gbk")).text == html


def test_single_sentence_pages_still_decode():
    for text, codec in [(CHINESE_SIMPLIFIED, "gbk"), (JAPANESE, "shift_jis"), (KOREAN, "euc-kr")]:
        sentence = text.split("。")[0].split(". ")[0]
        html = f"<html><head><title>t</title></head><body><p>{sentence}</p></body></html>"
        assert decode(html.encode(codec)).text == html


def test_ascii_page_decodes_as_utf8():
    html = page("Plain ASCII text about cross entropy and softmax.")
    assert decode(html.encode("ascii")) == Decoded(html, "utf-8")


def test_utf8_page_whose_detection_sample_ends_inside_a_character_is_utf8():
    sample_size = 256 * 1024  # what decode looks at for detection
    head = (page(MIXED_UTF8) + "<!-- ").encode()
    head += b" " * ((sample_size - len(head) - 1) % 3)  # a 3-byte character straddles the end
    body = head + ("中" * 100_000 + " -->").encode()
    assert (sample_size - len(head)) % 3 == 1
    decoded = decode(body)
    assert decoded.encoding == "utf-8"
    assert decoded.text == body.decode()


def test_unclosed_markup_is_read_once_not_rescanned():
    hostile = '<meta a="' * 20_000 + "<!--" * 20_000 + "<" * 20_000
    decoded = decode(hostile.encode() + "café".encode("windows-1252"))
    assert decoded.text.startswith('<meta a="')


# --- declared encodings -------------------------------------------------------------------------


def test_header_charset_is_used():
    html = page(JAPANESE, "ja")
    decoded = decode(html.encode("shift_jis"), "text/html; charset=Shift_JIS")
    assert decoded == Decoded(html, "cp932")


def test_header_charset_wins_over_meta():
    html = page(KOREAN, "ko", head='<meta charset="iso-8859-1">')
    decoded = decode(html.encode("euc-kr"), "text/html; charset=EUC-KR")
    assert decoded.text == html
    assert decoded.encoding == "cp949"


def test_meta_charset_is_used_without_header():
    html = page(JAPANESE, "ja", head='<meta charset="Shift_JIS">')
    assert decode(html.encode("shift_jis"), "text/html") == Decoded(html, "cp932")


def test_meta_http_equiv_content_type_is_used_without_header():
    head = '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
    html = page(KOREAN, "ko", head=head)
    assert decode(html.encode("euc-kr")) == Decoded(html, "cp949")


def test_gb2312_label_decodes_gbk_only_characters():
    # 镕 and 堃 are in GBK but not in GB2312; pages labelled gb2312 use them all the time.
    text = "朱镕基和王堃的名字在GB2312里没有，但在GBK和GB18030里都有。" + CHINESE_SIMPLIFIED
    html = page(text, "zh-CN", head='<meta charset="gb2312">')
    decoded = decode(html.encode("gbk"))
    assert decoded.text == html
    assert decoded.encoding == "gb18030"


def test_latin1_label_decodes_as_windows_1252():
    html = page(FRENCH, "fr")
    decoded = decode(html.encode("windows-1252"), "text/html; charset=ISO-8859-1")
    assert decoded.text == html  # the euro sign, curly quotes and dashes survive
    assert decoded.encoding == "cp1252"


def test_unknown_header_charset_falls_back_to_meta():
    html = page(CHINESE_SIMPLIFIED, "zh-CN", head='<meta charset="gbk">')
    assert decode(html.encode("gbk"), "text/html; charset=x-no-such-thing").text == html


def test_utf8_bom_wins_over_header_and_is_removed():
    html = page(MIXED_UTF8)
    decoded = decode(codecs.BOM_UTF8 + html.encode(), "text/html; charset=iso-8859-1")
    assert decoded == Decoded(html, "utf-8")


def test_utf16_page_with_bom_decodes():
    html = page(JAPANESE, "ja")
    decoded = decode(html.encode("utf-16"))  # Python writes the BOM
    assert decoded.text == html
    assert decoded.encoding.startswith("utf-16")


def test_meta_utf16_without_bom_is_read_as_utf8():
    html = page(MIXED_UTF8, head='<meta charset="utf-16">')
    assert decode(html.encode()) == Decoded(html, "utf-8")


def test_invalid_bytes_become_replacement_characters():
    decoded = decode(b"<p>caf\xc3\xa9 \xff broken</p>", "text/plain; charset=utf-8")
    assert "caf\u00e9" in decoded.text
    assert "\ufffd" in decoded.text


def test_empty_body_decodes_to_empty_text():
    assert decode(b"").text == ""


def test_decoded_is_immutable():
    decoded = decode(b"<p>hi</p>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.text = "changed"  # type: ignore[misc]


# --- no declaration, and a broken character: the detector must not fall back to a code page ------

RUSSIAN = (
    "База знаний сохраняет снимки веб-страниц вместе со стилями и изображениями, чтобы "
    "содержимое не пропало, даже если сайт закроется. Перекрёстная энтропия измеряет разницу "
    "между двумя распределениями вероятностей и широко используется в задачах классификации."
)


def forum_page(text: str, codec: str) -> bytes:
    """An old forum's list page: much ASCII markup, short titles, one title cut inside a character.

    The cut leaves a lone lead byte, the way 6dc2d508 of the Chinese extraction corpus has one;
    charset-normalizer then rejects every CJK encoding and used to answer ptcp154 (Cyrillic).
    """
    rows = "".join(
        f'<tr><td class="t"><a href="/thread-{n}.html" target="_blank">{text[n % 40 : n % 40 + 14]}'
        f'</a></td><td><font color="#999">2005-08-{n % 28 + 1:02d}</font></td></tr>\n'
        for n in range(60)
    )
    head = "<html><head><title>forum</title><style>.t{font-size:12px;color:#296ABA}</style></head>"
    html = f"{head}<body><table>{rows}</table><p>{text}</p></body></html>"
    body = html.encode(codec)
    cut = text[3:9].encode(codec)
    broken = body.replace(cut, cut[:-1] + b"...", 1)
    assert broken != body
    return broken


@pytest.mark.parametrize(
    ("text", "codec", "expected_encoding"),
    [
        (CHINESE_SIMPLIFIED, "gbk", "gb18030"),
        (CHINESE_TRADITIONAL, "big5", "big5hkscs"),
        (JAPANESE, "shift_jis", "cp932"),
        (KOREAN, "euc-kr", "cp949"),
    ],
    ids=["gbk", "big5", "shift_jis", "euc-kr"],
)
def test_cjk_page_with_a_broken_character_is_not_read_as_a_code_page(
    text, codec, expected_encoding
):
    decoded = decode(forum_page(text, codec))
    assert decoded.encoding == expected_encoding
    assert text in decoded.text
    assert decoded.text.count("\ufffd") <= 1


@pytest.mark.parametrize(
    ("text", "codec", "expected_encoding"),
    [(RUSSIAN, "windows-1251", "cp1251"), (FRENCH, "windows-1252", "cp1252")],
    ids=["windows-1251", "windows-1252"],
)
@pytest.mark.parametrize("lang", ["", "ru", "fr"])
def test_single_byte_pages_are_not_taken_for_cjk(text, codec, expected_encoding, lang):
    html = page(text, lang)
    decoded = decode(html.encode(codec), None, "https://example.cn/article.html")
    assert decoded.encoding == expected_encoding
    assert decoded.text == html


@pytest.mark.parametrize(
    ("text", "lang", "url", "codec"),
    [
        (CHINESE_SIMPLIFIED, "", "https://news.example.com.cn/a.shtml", "gbk"),
        (CHINESE_SIMPLIFIED, "zh-CN", None, "gbk"),
        (CHINESE_TRADITIONAL, "zh-Hant-TW", None, "big5"),
        (CHINESE_TRADITIONAL, "", "https://example.com.tw/a.html", "big5"),
        (JAPANESE, "", "https://example.co.jp/", "shift_jis"),
        (KOREAN, "", "https://example.co.kr/", "euc-kr"),
    ],
)
def test_lang_and_country_domain_hints_keep_cjk_pages_right(text, lang, url, codec):
    html = page(text, lang)
    assert decode(html.encode(codec), None, url).text == html


@pytest.mark.parametrize(
    ("text", "lang", "url", "codec"),
    [
        (CHINESE_TRADITIONAL, "zh-CN", None, "big5"),
        (CHINESE_SIMPLIFIED, "", "https://example.com.tw/", "gbk"),
        (KOREAN, "ja", None, "euc-kr"),
    ],
)
def test_a_hint_never_beats_text_that_reads_better_otherwise(text, lang, url, codec):
    """A hint only settles a tie: a Big5 page saying lang="zh-CN" is still read as Big5."""
    for body in (page(text, lang).encode(codec), forum_page(text, codec)):
        decoded = decode(body, None, url)
        assert text in decoded.text
