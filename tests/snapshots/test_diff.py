"""The readable diff between two snapshots' main text (snapshots.services.diff)."""

from snapshots.services.diff import diff_texts, split_sentences


def kinds(diff):
    return [block.kind for block in diff.blocks]


def test_english_text_splits_into_sentences_but_not_inside_numbers():
    text = 'Pi is 3.14 roughly. Is it? Yes! He said "fine." Then left\nA new line'
    assert split_sentences(text) == [
        "Pi is 3.14 roughly.",
        "Is it?",
        "Yes!",
        'He said "fine."',
        "Then left",
        "A new line",
    ]


def test_chinese_text_without_spaces_or_newlines_splits_after_full_stops():
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？「好的。」最后一句"
    assert split_sentences(text) == [
        "今天天气很好。",
        "我们去公园散步吧！",
        "你觉得怎么样？",
        "「好的。」",
        "最后一句",
    ]


def test_blank_lines_and_surrounding_space_are_ignored():
    assert split_sentences("\n\n  One.  \n\n Two. \n") == ["One.", "Two."]


def test_identical_texts_have_no_changes():
    diff = diff_texts("One. Two. Three.", "One. Two. Three.")
    assert diff.identical
    assert (diff.added, diff.removed, diff.changed) == (0, 0, 0)


def test_an_added_and_a_removed_sentence_are_reported():
    old = "The cat sat. It was warm. Nobody came."
    new = "The cat sat. Nobody came. A dog barked loudly outside."
    diff = diff_texts(old, new)
    assert ("removed", "It was warm.") in [(b.kind, b.text) for b in diff.blocks]
    assert ("added", "A dog barked loudly outside.") in [(b.kind, b.text) for b in diff.blocks]
    assert (diff.added, diff.removed, diff.changed) == (1, 1, 0)


def test_an_edited_sentence_marks_only_the_changed_words():
    diff = diff_texts("Prices rose by 5 percent in May.", "Prices rose by 7 percent in June.")
    [block] = diff.blocks
    assert block.kind == "changed"
    removed = [s.text for s in block.segments if s.kind == "removed"]
    added = [s.text for s in block.segments if s.kind == "added"]
    assert removed == ["5", "May"]
    assert added == ["7", "June"]
    assert "".join(s.text for s in block.segments if s.kind != "added") == (
        "Prices rose by 5 percent in May."
    )


def test_chinese_edit_inside_one_long_line_is_marked_character_by_character():
    old = "第一句没有变化。价格上涨了百分之五。最后一句也一样。"
    new = "第一句没有变化。价格上涨了百分之七。最后一句也一样。"
    diff = diff_texts(old, new)
    assert kinds(diff) == ["same", "changed", "same"]
    segments = diff.blocks[1].segments
    assert [s.text for s in segments if s.kind == "removed"] == ["五"]
    assert [s.text for s in segments if s.kind == "added"] == ["七"]


def test_chinese_sentence_added_to_unbroken_text():
    old = "北京是中国的首都。上海是最大的城市。"
    new = "北京是中国的首都。广州在南方，气候温暖湿润。上海是最大的城市。"
    diff = diff_texts(old, new)
    assert [(b.kind, b.text) for b in diff.blocks] == [
        ("same", "北京是中国的首都。"),
        ("added", "广州在南方，气候温暖湿润。"),
        ("same", "上海是最大的城市。"),
    ]


def test_long_unchanged_stretches_are_folded_with_context_kept():
    unchanged = [f"Sentence number {n} stays." for n in range(20)]
    old = " ".join([*unchanged, "The ending was sad."])
    new = " ".join(["A new opening line appears here.", *unchanged, "The ending was sad."])
    diff = diff_texts(old, new, context=2)
    assert (diff.blocks[0].kind, diff.blocks[0].text) == (
        "added",
        "A new opening line appears here.",
    )
    assert diff.blocks[1].text == "Sentence number 0 stays."
    assert diff.blocks[2].text == "Sentence number 1 stays."
    assert diff.blocks[3].kind == "skipped"
    assert diff.blocks[3].skipped == 19  # 21 unchanged sentences, two kept as context
    assert len(diff.blocks) == 4


def test_a_completely_different_text_is_all_removed_then_added():
    diff = diff_texts("Alpha beta gamma.", "Zeta eta theta iota.")
    assert kinds(diff) == ["removed", "added"]
