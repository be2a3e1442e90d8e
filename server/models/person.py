"""Persons (対象者), households (実態世帯) with members and 続柄, and directed care relations."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, new_id, utcnow


class Person(Base):
    __tablename__ = "person"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    family_name: Mapped[str] = mapped_column(String(100))  # 氏; any kanji, stored unchanged
    given_name: Mapped[str] = mapped_column(String(100), default="")  # 名
    family_name_kana: Mapped[str] = mapped_column(String(100), default="")  # フリガナ (katakana)
    given_name_kana: Mapped[str] = mapped_column(String(100), default="")
    preferred_name: Mapped[str] = mapped_column(String(100), default="")  # 通称・呼ばれたい名前
    # Search key: kana normalised to full-width katakana without spaces (see services/kana.py).
    kana_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    birth_date: Mapped[dt.date | None]
    birth_year: Mapped[int | None] = mapped_column(Integer)  # when only the year is known
    phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Household(Base):
    __tablename__ = "household"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    postal_code: Mapped[str] = mapped_column(String(10), default="")  # 〒
    prefecture: Mapped[str] = mapped_column(String(20), default="")  # 都道府県
    municipality: Mapped[str] = mapped_column(String(50), default="")  # 市区町村
    town: Mapped[str] = mapped_column(String(100), default="")  # 町字
    block: Mapped[str] = mapped_column(String(100), default="")  # 番地
    building: Mapped[str] = mapped_column(String(200), default="")  # 方書
    note: Mapped[str] = mapped_column(Text, default="")
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HouseholdMember(Base):
    __tablename__ = "household_member"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    relationship: Mapped[str] = mapped_column(String(50), default="")  # 続柄: 本人, 母, 父, 子 …


class CareRelation(Base):
    """carer → cared-for; may cross households. Expresses 8050, ダブルケア, ヤングケアラー."""

    __tablename__ = "care_relation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    carer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    cared_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50), default="")  # e.g. 介護, 育児, 経済的支援
    note: Mapped[str] = mapped_column(Text, default="")
