"""The message catalogues: every user-visible label, in Japanese (first) and English.

`ja.json` and `en.json` are flat objects (key -> string) with identical keys; vocabulary labels are
keyed `<vocab>.<id>` (e.g. `outcome.NO_ANSWER`). Placeholders are `{name}` style. The PWA reads the
same files, so a label changes in one place.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"

_DIR = Path(__file__).resolve().parent


def load(lang: str) -> dict[str, str]:
    """The catalogue for `lang` (unknown languages get Japanese). Cached: callers must not mutate it."""
    return _read(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


@cache  # keyed by a known language only, so request input cannot grow the cache
def _read(lang: str) -> dict[str, str]:
    with (_DIR / f"{lang}.json").open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"message catalogue {lang}.json must be a flat object of strings")
    return data


class _KeepMissing(dict[str, str]):
    """Leaves an unknown `{placeholder}` as written instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(lang: str, key: str, **params: object) -> str:
    """The label for `key` with `{name}` placeholders filled; a missing key returns the key itself.

    Nothing is logged: params may hold personal data, and a missing key shows up on the page anyway.
    """
    text = load(lang).get(key)
    if text is None:
        return key
    if not params:
        return text
    return text.format_map(_KeepMissing({k: str(v) for k, v in params.items()}))
