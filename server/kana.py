"""Kana-insensitive search keys for names: 「たかはし」, 「タカハシ」 and 「ﾀｶﾊｼ」 all become 「タカハシ」.

Stored in `person.kana_key` and applied to search queries, so both sides are normalised the same way.
"""

from __future__ import annotations

import re
import unicodedata

# Hiragana ぁ (U+3041) … ゖ (U+3096) and the iteration marks ゝゞ sit exactly 0x60 below their katakana.
_HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in (*range(0x3041, 0x3097), 0x309D, 0x309E)}
_WHITESPACE = re.compile(r"\s+")


def kana_key(*parts: str) -> str:
    """Join `parts` into one key: NFKC (half-width katakana and its ﾞﾟ marks become full-width,
    composed), hiragana to katakana, every whitespace removed (full-width space included).
    The long-vowel mark ー is kept; Latin letters keep their case."""
    text = unicodedata.normalize("NFKC", "".join(parts))
    text = _WHITESPACE.sub("", text.translate(_HIRAGANA_TO_KATAKANA))
    # NFKC turns a spacing mark typed after a kana (か゛) into a space plus a combining mark; with the
    # space gone, NFC composes the pair (ガ).
    return unicodedata.normalize("NFC", text)


def search_key(q: str) -> str:
    """The same normalisation for a search query."""
    return kana_key(q)
