from llmops.data.cleaning import MOJIBAKE_RE, clean_text, repair_latin1


def test_utf8_read_as_latin1_is_decoded_back():
    assert clean_text("caf\u00c3\u00a9", latin1_source=True) == "café"


def test_irrecoverable_bytes_inside_a_word_become_an_apostrophe():
    damaged = "I don\u00d5\u00a2_\u008a\u00ce_\u0086\u00a2t want either"
    assert clean_text(damaged, latin1_source=True) == "I don't want either"


def test_irrecoverable_bytes_between_words_become_space():
    assert repair_latin1("cars_\u00d1_.no thanks").replace("  ", " ") == "cars .no thanks"


def test_utf8_source_keeps_its_accents():
    assert clean_text("Zoë à Paris") == "Zoë à Paris"


def test_urls_mentions_entities_and_whitespace():
    raw = "RT @someone: look\r at https://t.co/abc &amp; www.x.org\n  now"
    assert clean_text(raw) == "RT @user: look at <url> & <url> now"
    assert clean_text(raw, normalize_urls=False, normalize_mentions=False).startswith(
        "RT @someone: look at https://t.co/abc"
    )


def test_mojibake_pattern_flags_damage_only():
    import re

    assert re.search(MOJIBAKE_RE, "don\u00d5\u00a2_\u008at")
    assert re.search(MOJIBAKE_RE, "caf\u00c3\u00a9")
    assert not re.search(MOJIBAKE_RE, "plain ascii, café in UTF-8")
