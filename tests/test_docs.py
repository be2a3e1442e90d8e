"""Docs are tested: every setting the code reads is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    code = (ROOT / "server" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"(YORISOI_[A-Z_]+)"', code))
    documented = set(re.findall(r"`(YORISOI_[A-Z_]+)`", (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")))
    assert read, "settings.py reads no variables?"
    assert read - documented == set(), f"undocumented settings: {sorted(read - documented)}"
    assert documented - read == set(), f"documented but never read: {sorted(documented - read)}"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
