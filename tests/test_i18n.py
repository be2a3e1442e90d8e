"""Message catalogues, 和暦 and 年度 dates, and kana search keys (pure unit tests, no database)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import pytest

from server import i18n, vocab
from server.i18n import dates
from server.kana import kana_key, search_key

VOCABULARIES: dict[str, Iterable[str]] = {
    "role": vocab.Role,
    "org_kind": vocab.OrgKind,
    "case_status": vocab.CaseStatus,
    "category": vocab.CATEGORIES,
    "referral_source": vocab.REFERRAL_SOURCES,
    "closed_reason": vocab.CLOSED_REASONS,
    "method": vocab.CONTACT_METHODS,
    "counterpart": vocab.COUNTERPARTS,
    "outcome": vocab.OUTCOMES,
    "reached": set(vocab.OUTCOMES.values()),
    "reception": vocab.RECEPTIONS,
    "risk_flag": vocab.RISK_FLAGS,
    "sharing_basis": vocab.SHARING_BASES,
    "consent_form": vocab.CONSENT_FORMS,
    "milestone": vocab.ALL_MILESTONES,
    "alert_rule": vocab.ALERT_RULES,
    "alert_level": vocab.ALERT_LEVELS,
    "alert_state": vocab.AlertState,
}

ERROR_CODES = (
    "invalid_credentials", "too_many_attempts", "not_found", "forbidden", "csrf_failed", "malformed_json",
    "invalid_request", "unauthenticated", "totp_required", "totp_invalid", "device_revoked",
    "payload_too_large", "server_busy", "internal_error",
)

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_catalogues_have_identical_keys() -> None:
    assert set(i18n.load("ja")) == set(i18n.load("en"))


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_vocabulary_id_has_a_label(lang: str) -> None:
    catalogue = i18n.load(lang)
    missing = [f"{name}.{value}" for name, ids in VOCABULARIES.items() for value in ids
               if not catalogue.get(f"{name}.{value}", "").strip()]
    assert missing == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_error_code_has_a_message(lang: str) -> None:
    for code in ERROR_CODES:
        assert i18n.load(lang)[f"error.{code}"].strip()


def test_placeholders_match_between_languages() -> None:
    ja, en = i18n.load("ja"), i18n.load("en")
    for key in ja:
        assert set(PLACEHOLDER.findall(ja[key])) == set(PLACEHOLDER.findall(en[key])), key


def test_domain_labels_are_used_exactly() -> None:
    ja = i18n.load("ja")
    assert ja["category.8050"] == "8050世帯"
    assert ja["outcome.DECLINED_BY_PERSON"] == "本人が関わりを望まない"
    assert ja["outcome.NO_ANSWER"] == "不在（応答なし）"
    assert ja["milestone.FIRST_VOICE_CONTACT"] == "本人と初めて言葉を交わした（ドア越し可）"
    assert ja["reached.person"] == "本人に届いた"
    assert ja["reached.none"] == "届かず"
    assert ja["alert_rule.DEVICE_UNSYNCED"] == "端末が未同期"
    levels = [ja[f"alert_level.{level}"] for level in vocab.ALERT_LEVELS]
    assert levels == ["注意", "警告", "要会議", "要振り返り", "緊急"]
    assert ja["ui.unsent"] == "未送信 {count}件"


def test_no_label_says_refusal_except_hostile_reception() -> None:
    ja = i18n.load("ja")
    assert ja["reception.HOSTILE"] == "拒否的"
    assert [k for k, v in ja.items() if "拒否" in v and k != "reception.HOSTILE"] == []
    assert [k for k, v in i18n.load("en").items() if "refus" in v.lower()] == []


def test_no_label_blames_for_slowness() -> None:
    assert [k for k, v in i18n.load("ja").items() if "遅延" in v or "遅れ" in v] == []
    assert [k for k, v in i18n.load("en").items() if re.search(r"\b(delay\w*|late|overdue)\b", v, re.I)] == []
    assert i18n.t("ja", "alert.needs_review") == "振り返りが必要です"


def test_t_fills_placeholders_and_falls_back() -> None:
    assert i18n.t("ja", "ui.unsent", count=2) == "未送信 2件"
    assert i18n.t("en", "ui.last_synced", time="09:30") == "Last synced 09:30"
    assert i18n.t("ja", "ui.last_synced") == "最終同期 {time}"  # a missing parameter stays visible
    assert i18n.t("fr", "app.name") == "寄り添い"  # unknown language: Japanese
    assert i18n.t("en", "app.name") == "Yorisoi"
    assert i18n.t("ja", "no.such.key") == "no.such.key"
    assert i18n.load("xx") is i18n.load("ja")


@pytest.mark.parametrize(("day", "expected"), [
    (dt.date(1868, 10, 23), "明治元年10月23日"),
    (dt.date(1912, 7, 29), "明治45年7月29日"),
    (dt.date(1912, 7, 30), "大正元年7月30日"),
    (dt.date(1926, 12, 24), "大正15年12月24日"),
    (dt.date(1926, 12, 25), "昭和元年12月25日"),
    (dt.date(1989, 1, 7), "昭和64年1月7日"),
    (dt.date(1989, 1, 8), "平成元年1月8日"),
    (dt.date(2019, 4, 30), "平成31年4月30日"),
    (dt.date(2019, 5, 1), "令和元年5月1日"),
    (dt.date(2025, 4, 1), "令和7年4月1日"),
    (dt.date(1868, 10, 22), "1868年10月22日"),  # before 明治: western
])
def test_wareki(day: dt.date, expected: str) -> None:
    assert dates.format_date(day, "ja", era=True) == expected


def test_western_and_english_dates() -> None:
    assert dates.format_date(dt.date(2025, 4, 1), "ja", era=False) == "2025年4月1日"
    assert dates.format_date(dt.date(2025, 4, 1), "en", era=True) == "1 April 2025"
    assert dates.format_date(dt.date(2025, 12, 31), "en", era=False) == "31 December 2025"


def test_datetime_is_shown_in_tokyo_time() -> None:
    utc = dt.datetime(2019, 4, 30, 15, 5, tzinfo=dt.UTC)  # 2019-05-01 00:05 in Tokyo
    assert dates.format_datetime(utc, "ja", era=True) == "令和元年5月1日 00:05"
    assert dates.format_datetime(utc, "ja", era=False) == "2019年5月1日 00:05"
    assert dates.format_datetime(utc, "en", era=False) == "1 May 2019 00:05"
    assert dates.format_datetime(utc.replace(tzinfo=None), "ja", era=False) == "2019年5月1日 00:05"


@pytest.mark.parametrize(("day", "fy"), [
    (dt.date(2026, 3, 31), 2025),
    (dt.date(2026, 4, 1), 2026),
    (dt.date(2025, 4, 1), 2025),
    (dt.date(2026, 1, 1), 2025),
])
def test_fiscal_year(day: dt.date, fy: int) -> None:
    assert dates.fiscal_year(day) == fy


def test_fiscal_year_range_and_labels() -> None:
    assert dates.fiscal_year_range(2025) == (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert dates.fiscal_year_label(2025, "ja", era=True) == "令和7年度"
    assert dates.fiscal_year_label(2019, "ja", era=True) == "令和元年度"
    assert dates.fiscal_year_label(1988, "ja", era=True) == "昭和63年度"
    assert dates.fiscal_year_label(1989, "ja", era=True) == "平成元年度"
    assert dates.fiscal_year_label(2025, "ja", era=False) == "2025年度"
    assert dates.fiscal_year_label(2025, "en", era=True) == "FY2025"


def test_quarters_cover_the_fiscal_year() -> None:
    quarters = [dates.quarter_range(2025, q) for q in (1, 2, 3, 4)]
    assert quarters == [
        (dt.date(2025, 4, 1), dt.date(2025, 6, 30)),
        (dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
        (dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
        (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    ]
    with pytest.raises(ValueError, match="quarter"):
        dates.quarter_range(2025, 5)


@pytest.mark.parametrize(("parts", "expected"), [
    (("たかはし",), "タカハシ"),
    (("タカハシ",), "タカハシ"),
    (("ﾀｶﾊｼ",), "タカハシ"),
    (("ｶﾞ",), "ガ"),
    (("ﾊﾟｰﾄ",), "パート"),  # half-width handakuten and long-vowel mark
    (("ゆうこ", "さとう"), "ユウコサトウ"),
    (("さとう　",  " ゆうこ"), "サトウユウコ"),
    (("か゛",), "ガ"),  # a spacing dakuten typed after the kana
    (("ゔぁ",), "ヴァ"),
])
def test_kana_key(parts: tuple[str, ...], expected: str) -> None:
    assert kana_key(*parts) == expected


def test_search_key_matches_stored_key() -> None:
    assert search_key(" やまだ　たろう ") == kana_key("ヤマダ", "タロウ") == "ヤマダタロウ"
    assert search_key("ﾔﾏﾀﾞ ﾀﾛｳ") == "ヤマダタロウ"
    assert search_key("ｰ") == "ー"
