"""Data tables for the demo municipality (server/demo.py): names, places, note templates, how each
outcome is recorded, and the fixed cases that exercise the stall rules.

Everything here is fictional: 架空市 in 架空県, postal codes 000-xxxx (a range Japan does not use), phone
numbers 090-0000-xxxx. Names are ordinary combinations drawn at random; they describe no real person.
Notes are written the way a careful outreach worker writes them: person-first, respectful, no labels.
`{fam}` in a template is replaced by how the worker refers to the family member (「お母様」, 「ご親族」…).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.vocab import MILESTONE_RANK as RANK

SEED = 20251001
PASSWORD = "yorisoi-demo-2026"  # noqa: S105 - the demo's published sign-in password

MUNICIPALITY = "架空市"
SHAKYO = "架空市社会福祉協議会"
PREFECTURE = "架空県"

# (team name, operated by the shakyo?, area the team covers)
TEAMS = (
    ("北部アウトリーチ班", False, "north"),
    ("南部アウトリーチ班", False, "south"),
    ("社協ひきこもり支援チーム", True, "all"),
)

# (username, role, team index, display name); supervisors and the admin sit in the first team.
STAFF = (
    ("coord1", "coordinator", 0, "青木 陽子"),
    ("worker1", "worker", 0, "大西 春香"),
    ("worker2", "worker", 0, "小林 拓海"),
    ("worker3", "worker", 0, "坂口 千尋"),
    ("worker4", "worker", 0, "野村 亮"),
    ("coord2", "coordinator", 1, "石田 正樹"),
    ("worker5", "worker", 1, "藤井 早苗"),
    ("worker6", "worker", 1, "村上 健太"),
    ("worker7", "worker", 1, "岩崎 彩"),
    ("worker8", "worker", 1, "原田 慎也"),
    ("coord3", "coordinator", 2, "三浦 和美"),
    ("worker9", "worker", 2, "杉本 理沙"),
    ("worker10", "worker", 2, "今井 大地"),
    ("worker11", "worker", 2, "川口 真奈美"),
    ("worker12", "worker", 2, "堀 智也"),
    ("super1", "supervisor", 0, "西田 恭子"),
    ("super2", "supervisor", 0, "長谷川 修"),
    ("admin", "admin", 0, "田村 亜紀"),
)
UNSYNCED_WORKER = "worker7"  # their phone last synced 6 days ago (端末が未同期); one live case only
DEVICE_LABELS = ("Android Chrome", "iPhone Safari（ホーム画面）", "Android Chrome", "Android Chrome")

FAMILY_NAMES = (
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("田中", "タナカ"), ("伊藤", "イトウ"), ("山本", "ヤマモト"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉川", "ヨシカワ"), ("山口", "ヤマグチ"), ("松田", "マツダ"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("清水", "シミズ"), ("山田", "ヤマダ"),
    ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石井", "イシイ"),
    ("前田", "マエダ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("岡本", "オカモト"), ("長田", "ナガタ"),
    ("村田", "ムラタ"), ("近藤", "コンドウ"), ("坂本", "サカモト"), ("遠藤", "エンドウ"), ("青山", "アオヤマ"),
    ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("松井", "マツイ"), ("菊地", "キクチ"),
    ("上野", "ウエノ"), ("桑原", "クワバラ"), ("平野", "ヒラノ"), ("大塚", "オオツカ"), ("千葉", "チバ"),
)
# Names outside JIS X 0208 or in variant forms: they must be stored and shown exactly as written.
RARE_FAMILY_NAMES = (
    ("𠮷田", "ヨシダ"), ("髙橋", "タカハシ"), ("山﨑", "ヤマサキ"), ("宮﨑", "ミヤザキ"), ("髙木", "タカギ"),
    ("濵田", "ハマダ"), ("渡邉", "ワタナベ"), ("齋藤", "サイトウ"), ("德田", "トクダ"), ("栁田", "ヤナギダ"),
)

# Given names by generation and gender: (kanji, kana).
GIVEN_NAMES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("old", "f"): (
        ("和子", "カズコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("久子", "ヒサコ"), ("弘子", "ヒロコ"),
        ("文子", "フミコ"), ("芳江", "ヨシエ"), ("キヨ", "キヨ"), ("静江", "シズエ"), ("富子", "トミコ"),
    ),
    ("old", "m"): (
        ("清", "キヨシ"), ("勇", "イサム"), ("茂", "シゲル"), ("実", "ミノル"), ("博", "ヒロシ"),
        ("武", "タケシ"), ("昭二", "ショウジ"), ("正男", "マサオ"), ("進", "ススム"), ("明", "アキラ"),
    ),
    ("mid", "m"): (
        ("健一", "ケンイチ"), ("誠", "マコト"), ("浩二", "コウジ"), ("隆", "タカシ"), ("直樹", "ナオキ"),
        ("剛", "ツヨシ"), ("哲也", "テツヤ"), ("和彦", "カズヒコ"), ("秀樹", "ヒデキ"), ("聡", "サトシ"),
        ("大介", "ダイスケ"), ("拓也", "タクヤ"), ("祐介", "ユウスケ"), ("健", "ケン"), ("淳", "ジュン"),
    ),
    ("mid", "f"): (
        ("裕子", "ユウコ"), ("真由美", "マユミ"), ("恵美", "エミ"), ("智子", "トモコ"), ("美穂", "ミホ"),
        ("直美", "ナオミ"), ("由美子", "ユミコ"), ("久美子", "クミコ"), ("香織", "カオリ"), ("敦子", "アツコ"),
        ("麻衣", "マイ"), ("亜希子", "アキコ"),
    ),
    ("young", "m"): (
        ("翔太", "ショウタ"), ("大輝", "ダイキ"), ("蓮", "レン"), ("悠斗", "ユウト"), ("颯太", "ソウタ"),
        ("陽向", "ヒナタ"), ("湊", "ミナト"), ("樹", "イツキ"), ("陸", "リク"), ("隼", "ハヤト"),
    ),
    ("young", "f"): (
        ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("美咲", "ミサキ"), ("葵", "アオイ"), ("さくら", "サクラ"),
        ("凛", "リン"), ("芽依", "メイ"), ("心春", "コハル"), ("莉子", "リコ"), ("彩花", "アヤカ"),
    ),
}
PREFERRED_SUFFIXES = ("さん", "くん", "ちゃん", "")

# (町字, 〒) by area.
TOWNS = {
    "north": (
        ("北山町一丁目", "000-0011"), ("北山町二丁目", "000-0012"), ("桜台三丁目", "000-0021"),
        ("大字上川原", "000-0031"), ("緑が丘四丁目", "000-0041"), ("松風町", "000-0051"),
    ),
    "south": (
        ("南浜町一丁目", "000-0111"), ("港町二丁目", "000-0121"), ("川辺町", "000-0131"),
        ("南台五丁目", "000-0141"), ("大字下田", "000-0151"), ("旭町三丁目", "000-0161"),
    ),
}
BUILDINGS = (
    "市営北山団地 3号棟 402号室", "ひかり荘 203号室", "コーポ桜 105号室", "県営南浜住宅 12棟 301号",
    "メゾン川辺 2階 B号室", "グリーンハイツ 1階 101号室",
)

REFERRAL_LABELS = {
    "chiiki_houkatsu": "地域包括支援センター", "minsei_iin": "民生委員", "school": "学校",
    "family": "ご家族", "neighbour": "近隣の方", "shien_kaigi": "支援会議", "other_agency": "関係機関",
    "self": "ご本人",
}

# By outcome, or by "outcome@method" where the place matters.
NOTES: dict[str, tuple[str, ...]] = {
    "MET_PERSON": (
        "ご本人と居間でお話ししました。好きな音楽の話題で表情が和らぎました。次回の約束をしました。",
        "ご本人と面談しました。食事は1日2回とれているとのこと。体調は落ち着いているようです。",
        "ご本人と面談しました。眠れない日があると話されたので、相談先の情報をお伝えしました。",
    ),
    "MET_PERSON@COMMUNITY_SETTING": (
        "ご本人と近所の公園で会いました。最近は夜に散歩をしているとのことです。",
        "居場所でご本人と会いました。ほかの参加者と短く言葉を交わしていました。",
    ),
    "MET_PERSON@OFFICE_VISIT": ("ご本人が来所され、面談しました。これからの過ごし方を一緒に考えました。",),
    "MET_PERSON@ACCOMPANIMENT": (
        "ご本人の受診に同行しました。待合室では緊張されていましたが、最後まで一緒に過ごせました。",
        "ご本人に同行して見学に出かけました。帰り道に「また行ってもいい」と話されました。",
    ),
    "MET_PERSON@MEETING": ("ご本人も参加して関係機関と打合せを行いました。ご本人の希望を中心に確認しました。",),
    "SPOKE_THROUGH_DOOR": (
        "ドア越しにご本人へ挨拶しました。短い返事がありました。無理はせず、また来ますとお伝えしました。",
        "インターホン越しにご本人と数分お話ししました。「手紙は読んでいる」とのことです。",
    ),
    "PERSON_HOME_NOT_MET": (
        "ご本人は在宅でしたがお会いできませんでした。{fam}に手紙を託し、よろしくとお伝えいただきました。",
        "{fam}によるとご本人は自室で休まれていました。伝言をお願いしました。",
    ),
    "MET_FAMILY_ONLY": (
        "{fam}と玄関先でお話ししました。ご本人は自室で過ごされているとのことです。",
        "{fam}と面談しました。家計と今後の生活について不安を話されました。",
        "{fam}と面談しました。ご本人の生活リズムに少し変化があるとのことです。",
    ),
    "MET_FAMILY_ONLY@OFFICE_VISIT": ("{fam}が来所され、面談しました。ご本人の最近の様子を伺いました。",),
    "PHONE_PERSON": (
        "ご本人と電話でお話ししました。声は落ち着いていました。",
        "ご本人から折り返しの電話があり、次回の面談日を一緒に決めました。",
    ),
    "PHONE_FAMILY": (
        "{fam}と電話でお話ししました。ご本人の様子に大きな変化はないとのことです。",
        "{fam}に電話し、次回訪問の日程を調整しました。",
    ),
    "PHONE_NO_ANSWER": (
        "電話しましたが、つながりませんでした。留守番電話には残していません。",
        "電話をかけましたが応答がありませんでした。時間帯を変えて再度かけます。",
    ),
    "NO_ANSWER": (
        "訪問しましたが応答はありませんでした。郵便受けの状態に変わりはありません。",
        "インターホンを鳴らしましたが応答はありませんでした。",
    ),
    "LEFT_LETTER": (
        "手紙をポストに投函しました。返事を求めない短い内容にしています。",
        "季節のあいさつと連絡先を書いたメモを投函しました。",
    ),
    "PERSON_REPLIED@LETTER": ("ご本人から手紙の返事が届きました。「少しなら話してもいい」と書かれていました。",),
    "PERSON_REPLIED@DIGITAL_MESSAGE": ("ご本人からメールで連絡があり、会う日程を相談しました。",),
    "PERSON_REPLIED@PHONE": ("ご本人から電話がありました。短い時間でしたが、近況を話してくださいました。",),
    "DECLINED_BY_PERSON": (
        "ご本人から、今は関わりを望まないとの意思が示されました。意思を尊重し、連絡先だけ改めてお伝えしました。",
    ),
    "DECLINED_BY_FAMILY": (
        "{fam}から、今は訪問を控えてほしいとのお話がありました。手紙での連絡は続けてよいとのことです。",
    ),
    "ABORTED_SAFETY": (
        "玄関先で大きな物音と怒鳴り声が聞こえたため、安全を優先して訪問を中止しました。次回は二人で時間帯を変えて訪問します。",
    ),
    "MOVED_OR_UNKNOWN": (
        "近隣の方から、転居されたようだと伺いました。関係機関に所在の確認を依頼しました。",
    ),
    "IN_HOSPITAL_OR_FACILITY": (
        "{fam}から、ご本人が入院されたと連絡がありました。退院の見込みが立ったら改めて連絡をいただきます。",
    ),
    "DECEASED": (
        "地域包括支援センターから、ご本人が亡くなられたと連絡がありました。ご親族への対応を確認しています。",
    ),
    "EMERGENCY_RESPONSE": (
        "夜間、民生委員から「お母様が倒れている」と連絡があり駆けつけました。お母様は救急搬送され入院となりました。"
        "ご本人は自宅に残っており、動揺されていましたが短く言葉を交わせました。",
    ),
}
AMENDMENT_NOTE = "（訂正）記録時の入力誤りを修正しました。"

NEXT_ACTIONS = {
    "family": ("手紙を投函する", "{fam}に電話で様子を伺う", "夕方の時間帯に再訪問する", "{fam}と次回面談"),
    "person": ("ご本人と次回面談（約束済み）", "ドア越しに声をかける", "ご本人に電話する", "手紙で近況を伺う"),
    "connected": ("つながり先に様子を確認する", "居場所への参加に同行する", "関係機関と情報共有する"),
}

MILESTONE_NOTES = {
    "IDENTIFIED": "{source}から情報提供がありました。",
    "FAMILY_FIRST_CONTACT": "{fam}と初めてお話しできました。",
    "FAMILY_ENGAGED": "{fam}と次回の面談を約束しました。",
    "PERSON_AWARE": "手紙が届いていると{fam}から伺いました。",
    "PERSON_RESPONDED": "ご本人から返事がありました。",
    "FIRST_VOICE_CONTACT": "ご本人と初めて言葉を交わしました。",
    "FIRST_FACE_TO_FACE": "ご本人と初めて対面でお会いしました。",
    "REGULAR_CONTACT": "約束して会えるようになりました。",
    "PERSON_EXPRESSED_NEEDS": "ご本人が「少し外に出てみたい」と話されました。",
    "CONSENT_GIVEN": "関係機関との情報共有に同意をいただきました。",
    "PLAN_AGREED": "ご本人も参加して支援プランを確認しました。",
    "ACCOMPANIED_OUTING": "一緒に出かけることができました。",
    "CONNECTED": "{dest}につながりました。",
    "STABLE_HANDOVER": "つながり先との関係が安定し、引継ぎを終えました。",
}
# How each outcome comes about: the methods it is recorded with (default: a home visit).
METHODS = {
    "MET_PERSON": ("HOME_VISIT", "HOME_VISIT", "COMMUNITY_SETTING", "OFFICE_VISIT"),
    "MET_FAMILY_ONLY": ("HOME_VISIT", "HOME_VISIT", "OFFICE_VISIT"),
    "PHONE_PERSON": ("PHONE",), "PHONE_FAMILY": ("PHONE",), "PHONE_NO_ANSWER": ("PHONE",),
    "LEFT_LETTER": ("LETTER", "HOME_VISIT"),
    "PERSON_REPLIED": ("LETTER", "DIGITAL_MESSAGE", "PHONE"),
    "DECLINED_BY_PERSON": ("HOME_VISIT", "PHONE"), "DECLINED_BY_FAMILY": ("HOME_VISIT", "PHONE"),
    "IN_HOSPITAL_OR_FACILITY": ("PHONE",), "DECEASED": ("AGENCY_LIAISON",),
}  # every other outcome happens at the door: HOME_VISIT
TRIGGERS = {  # the contact on the day a milestone is reached: (method, outcome)
    "FAMILY_FIRST_CONTACT": (("HOME_VISIT", "MET_FAMILY_ONLY"), ("PHONE", "PHONE_FAMILY")),
    "FAMILY_ENGAGED": (("HOME_VISIT", "MET_FAMILY_ONLY"), ("OFFICE_VISIT", "MET_FAMILY_ONLY")),
    "PERSON_AWARE": (("HOME_VISIT", "PERSON_HOME_NOT_MET"),),
    "PERSON_RESPONDED": (("LETTER", "PERSON_REPLIED"), ("DIGITAL_MESSAGE", "PERSON_REPLIED")),
    "FIRST_VOICE_CONTACT": (("HOME_VISIT", "SPOKE_THROUGH_DOOR"), ("PHONE", "PHONE_PERSON")),
    "FIRST_FACE_TO_FACE": (("HOME_VISIT", "MET_PERSON"),),
    "REGULAR_CONTACT": (("HOME_VISIT", "MET_PERSON"), ("COMMUNITY_SETTING", "MET_PERSON")),
    "PERSON_EXPRESSED_NEEDS": (("HOME_VISIT", "MET_PERSON"), ("OFFICE_VISIT", "MET_PERSON")),
    "CONSENT_GIVEN": (("HOME_VISIT", "MET_PERSON"), ("OFFICE_VISIT", "MET_PERSON")),
    "PLAN_AGREED": (("OFFICE_VISIT", "MET_PERSON"), ("MEETING", "MET_PERSON")),
    "ACCOMPANIED_OUTING": (("ACCOMPANIMENT", "MET_PERSON"),),
    "CONNECTED": (("ACCOMPANIMENT", "MET_PERSON"), ("COMMUNITY_SETTING", "MET_PERSON")),
    "STABLE_HANDOVER": (("MEETING", "MET_PERSON"),),
}
FILLERS = (  # (from rank, outcome weights) for the attempts between milestones
    (0, {"NO_ANSWER": 3, "LEFT_LETTER": 3, "PHONE_NO_ANSWER": 2}),
    (1, {"NO_ANSWER": 2, "LEFT_LETTER": 3, "PHONE_NO_ANSWER": 1, "PHONE_FAMILY": 3, "MET_FAMILY_ONLY": 2,
         "DECLINED_BY_FAMILY": 1}),
    (3, {"LEFT_LETTER": 2, "NO_ANSWER": 2, "PERSON_HOME_NOT_MET": 2, "PHONE_FAMILY": 2, "MET_FAMILY_ONLY": 2,
         "PERSON_REPLIED": 1}),
    (5, {"SPOKE_THROUGH_DOOR": 3, "PHONE_PERSON": 2, "PERSON_REPLIED": 1, "NO_ANSWER": 2,
         "PHONE_NO_ANSWER": 1, "MET_FAMILY_ONLY": 1}),
    (6, {"MET_PERSON": 5, "PHONE_PERSON": 2, "SPOKE_THROUGH_DOOR": 1, "NO_ANSWER": 1, "PHONE_NO_ANSWER": 1,
         "DECLINED_BY_PERSON": 1}),
)
RECEPTIONS = {
    "MET_PERSON": ("WARM", "WARM", "NEUTRAL"), "SPOKE_THROUGH_DOOR": ("NEUTRAL", "GUARDED"),
    "PERSON_HOME_NOT_MET": ("NEUTRAL", "WARM"), "MET_FAMILY_ONLY": ("WARM", "NEUTRAL", "GUARDED"),
    "PHONE_PERSON": ("NEUTRAL", "WARM"), "PHONE_FAMILY": ("WARM", "NEUTRAL"), "PERSON_REPLIED": ("NEUTRAL",),
    "DECLINED_BY_PERSON": ("GUARDED", "HOSTILE"), "DECLINED_BY_FAMILY": ("GUARDED", "HOSTILE"),
}
DURATIONS = {  # minutes by method: (someone reached, nobody reached)
    "HOME_VISIT": ((20, 60), (5, 15)), "PHONE": ((5, 20), (1, 3)), "OFFICE_VISIT": ((30, 60), (30, 60)),
    "COMMUNITY_SETTING": ((30, 90), (30, 90)), "ACCOMPANIMENT": ((90, 180), (90, 180)),
    "MEETING": ((45, 90), (45, 90)), "AGENCY_LIAISON": ((10, 30), (10, 30)),
}
DURATION_BY_OUTCOME = {  # where the outcome says more than the method
    "SPOKE_THROUGH_DOOR": (5, 15), "PERSON_HOME_NOT_MET": (10, 30), "LEFT_LETTER": (3, 10),
    "ABORTED_SAFETY": (3, 10), "EMERGENCY_RESPONSE": (60, 150),
}

# (outcome of the contact that revealed it, reason written on the SETBACK event)
SETBACK_REASONS = {
    "hospital": ("IN_HOSPITAL_OR_FACILITY", "入院により関わりが中断しました。退院後に改めて再開します。"),
    "declined": ("DECLINED_BY_PERSON", "ご本人から、しばらく来ないでほしいとの意思表示がありました。"),
    "family": ("DECLINED_BY_FAMILY", "{fam}の意向で訪問を控えることになり、関係が一時途絶えました。"),
    "silence": ("NO_ANSWER", "居場所への参加が途切れ、連絡がつかない状態が続いています。"),
}
DESTINATIONS = (
    "居場所（ひだまりサロン）", "就労準備支援事業", "医療機関（架空市こころのクリニック）", "地域活動支援センター",
    "参加支援（地域農園ボランティア）", "障害福祉サービス相談支援事業所", "自立相談支援機関",
)
CONSENT_AGENCIES = (
    "地域包括支援センター", "架空市社会福祉協議会", "自立相談支援機関", "保健センター",
    "障害福祉サービス相談支援事業所", "医療機関",
)
# Coordinators' review comments, by how far the case has come: family stages, person, plan agreed.
REVIEW_COMMENTS = {
    "family": (
        "訪問の時間帯を変えてみてはどうでしょうか。夕方のほうが応答があるかもしれません。",
        "民生委員さんと同行しての訪問を検討してください。",
        "ご家族の負担感にも配慮して、ご家族への支援も並行して続けましょう。",
        "記録を確認しました。焦らず、手紙と訪問を続けてください。",
    ),
    "person": (
        "ご本人とのやり取りが続いていて良い流れです。ご本人のペースを大切にしましょう。",
        "居場所の見学を提案してみてもよい時期かもしれません。",
        "次回の重層的支援会議で共有します。",
        "記録を確認しました。このまま続けてください。",
    ),
    "plan": (
        "支援プランの見直し時期が近づいています。ご本人の希望を確認してください。",
        "つながり先との関係づくりを見守りましょう。",
        "次回の重層的支援会議で共有します。",
    ),
}
REVIEW_UNASSIGNED = "担当者を決めて、初回訪問の計画を立てます。"

CARE_KINDS = {
    "support": ("生活・経済的支援", "年金で世帯の生活を支えている"),
    "nursing": ("介護", ""),
    "childcare": ("育児", ""),
    "household": ("家事・見守り", "通学しながら家事と見守りを担っている"),
    "siblings": ("きょうだいの世話", ""),
}
CLOSING_NOTES = {
    "stable_handover": "つながり先の担当者とご本人を交えて振り返りを行い、支援の終結を確認しました。",
    "other": "ご本人が市外の支援付き住宅へ入居され、転居先の相談支援機関へ支援を引き継ぎました。",
}
EMERGENCY_NEXT_ACTION = "本日午前にご本人宅を訪問し、食事と生活の状況を確認する"
CONSENT_WITHDRAWN_NOTE = "ご本人の申し出により、関係機関との情報共有への同意を撤回されました。"
FIRST_ACTION = "担当者を決めて、初回訪問の計画を立てる"
AMENDED_OUTCOME_NOTE = "（訂正）後日{fam}から、訪問時ご本人は在宅だったと伺いました。結果を訂正します。"

# Rungs a case may pass without an event of its own (only the top rung a case reaches is never skipped).
SKIPPABLE = frozenset({
    "FAMILY_ENGAGED", "PERSON_AWARE", "PERSON_RESPONDED", "FIRST_VOICE_CONTACT",
    "PERSON_EXPRESSED_NEEDS", "ACCOMPANIED_OUTING",
})
# Methods where two workers usually go together.
TWO_PERSON = frozenset({"HOME_VISIT", "ACCOMPANIMENT", "COMMUNITY_SETTING"})


@dataclass
class Plan:
    """One case's story, drawn up before any row is made. Days are counted back from `today`."""

    kind: str  # household shape: 8050, hikikomori, double_care, young_carer, self_neglect, other
    team: int
    age: int  # days since 把握
    top: int  # the highest rung climbed (index into MILESTONES)
    last_ms: int  # days since the last milestone
    status: str = "open"
    closed_reason: str | None = None
    closed_ago: int = 0
    setback: str | None = None  # a key of SETBACK_REASONS, or "any"
    tail: tuple[tuple[int, str], ...] = ()  # the latest contacts, (days ago, outcome), oldest first
    due: int = 7  # next action due, days from today
    plan_review: int | None = None  # days from today
    assignment: str = "normal"  # normal | ended (14 days ago, nobody took over) | none
    review_ago: int | None = None  # days since the last coordinator review; None: recent
    name: tuple[str, str, str, str] | None = None  # 氏, 名, セイ, メイ
    gender: str = ""
    risk: tuple[str, ...] = ()
    extra: str | None = None  # an outcome dropped into the middle of the history
    withdraw_consent: bool = False
    emergency: bool = False  # 緊急対応 last night
    worker: str = ""  # the primary worker's username, when it matters


# Fixed cases that exercise the stall rules (listed by name in server/demo.py's docstring).
SCENARIOS = (
    # S1: next action overdue
    Plan("8050", 0, 380, RANK["FIRST_VOICE_CONTACT"], 60, tail=((20, "MET_FAMILY_ONLY"),), due=-12,
         name=("髙橋", "誠", "タカハシ", "マコト"), gender="m"),
    # S2: 30 days without reaching anyone
    Plan("hikikomori", 1, 300, RANK["FIRST_FACE_TO_FACE"], 45, due=4, name=("小野寺", "美穂", "オノデラ", "ミホ"),
         tail=((38, "PHONE_FAMILY"), (24, "LEFT_LETTER"), (11, "PHONE_NO_ANSWER")), gender="f"),
    # S2: 60 days
    Plan("hikikomori", 2, 450, RANK["REGULAR_CONTACT"], 80, due=6, name=("𠮷田", "翔太", "ヨシダ", "ショウタ"),
         tail=((67, "SPOKE_THROUGH_DOOR"), (45, "NO_ANSWER"), (30, "LEFT_LETTER"), (12, "PHONE_NO_ANSWER")),
         gender="m"),
    # S2: 90 days (要会議)
    Plan("8050", 0, 500, RANK["PERSON_RESPONDED"], 120, due=5, name=("山﨑", "浩二", "ヤマサキ", "コウジ"),
         tail=((104, "MET_FAMILY_ONLY"), (80, "NO_ANSWER"), (52, "LEFT_LETTER"), (20, "PHONE_NO_ANSWER")),
         gender="m"),
    # S3: six failed attempts in a row
    Plan("8050", 0, 360, RANK["PERSON_AWARE"], 90, due=4, name=("佐々木", "直樹", "ササキ", "ナオキ"), gender="m",
         tail=((45, "MET_FAMILY_ONLY"), (40, "NO_ANSWER"), (33, "LEFT_LETTER"), (26, "PHONE_NO_ANSWER"),
               (19, "DECLINED_BY_FAMILY"), (10, "NO_ANSWER"), (3, "LEFT_LETTER"))),
    # S3: four, with a decline
    Plan("hikikomori", 2, 240, RANK["FIRST_VOICE_CONTACT"], 40, due=10, name=("松本", "悠斗", "マツモト", "ユウト"),
         tail=((28, "PHONE_PERSON"), (21, "NO_ANSWER"), (14, "DECLINED_BY_PERSON"), (9, "PHONE_NO_ANSWER"),
               (4, "NO_ANSWER")), gender="m"),
    # S4: no milestone for 215 days
    Plan("hikikomori", 1, 420, RANK["FIRST_VOICE_CONTACT"], 215, name=("渡邉", "隆", "ワタナベ", "タカシ"), gender="m"),
    # S5: family-only for 300 days
    Plan("8050", 2, 300, RANK["FAMILY_ENGAGED"], 150, name=("中村", "健", "ナカムラ", "ケン"), gender="m"),
    # S6: plan review overdue
    Plan("double_care", 1, 400, RANK["ACCOMPANIED_OUTING"], 50, plan_review=-20,
         name=("井上", "恵美", "イノウエ", "エミ"), gender="f"),
    # S7: assignment ended, nobody took over
    Plan("hikikomori", 0, 260, RANK["FIRST_FACE_TO_FACE"], 70, tail=((18, "PHONE_PERSON"),), due=6,
         assignment="ended", name=("森", "大輝", "モリ", "ダイキ"), gender="m"),
    # S7: new, never assigned
    Plan("self_neglect", 1, 6, 0, 6, assignment="none", name=("石川", "", "イシカワ", ""), gender="m"),
    # S7: no coordinator review for 120 days
    Plan("self_neglect", 2, 330, RANK["REGULAR_CONTACT"], 60, review_ago=120, name=("清水", "智子", "シミズ", "トモコ"),
         gender="f"),
    # R: 緊急対応 last night
    Plan("8050", 0, 470, RANK["FIRST_FACE_TO_FACE"], 40, emergency=True, name=("濵田", "博", "ハマダ", "ヒロシ"),
         gender="m"),
    # R: 死亡確認 on a closed case
    Plan("self_neglect", 1, 380, RANK["FIRST_VOICE_CONTACT"], 90, status="closed", closed_reason="deceased",
         closed_ago=3, risk=("hoarding",), name=("齋藤", "久子", "サイトウ", "ヒサコ"), gender="f"),
    # 端末が未同期: the only live case of the worker whose phone is silent looks overdue (S1); the
    # engine holds that back and says the phone has not synced instead.
    Plan("hikikomori", 1, 280, RANK["FIRST_FACE_TO_FACE"], 50, tail=((16, "MET_PERSON"),), due=-9,
         worker=UNSYNCED_WORKER, name=("松井", "聡", "マツイ", "サトシ"), gender="m"),
    # Not rules, but every outcome and event should appear somewhere.
    Plan("hikikomori", 1, 330, RANK["REGULAR_CONTACT"], 30, extra="ABORTED_SAFETY", risk=("violence_history",)),
    Plan("8050", 2, 480, RANK["CONNECTED"], 25, setback="hospital", plan_review=60, withdraw_consent=True),
    Plan("other", 0, 400, RANK["PERSON_AWARE"], 120, status="closed", closed_reason="moved", closed_ago=60),
)


def closing_tail(reason: str, ago: int) -> tuple[tuple[int, str], ...]:
    """The last contacts of a closed case, closed `ago` days before today."""
    return {
        "deceased": ((ago + 1, "DECEASED"),),
        "moved": ((ago + 30, "NO_ANSWER"), (ago + 18, "NO_ANSWER"), (ago + 4, "MOVED_OR_UNKNOWN")),
        "person_declined": ((ago + 40, "DECLINED_BY_PERSON"), (ago + 25, "LEFT_LETTER"),
                            (ago + 6, "DECLINED_BY_PERSON")),
        "stable_handover": ((ago + 2, "MET_PERSON"),),
    }.get(reason, ((ago + 2, "PHONE_FAMILY"),))
