"""Organisations (the municipality, and outside operators such as 社協 or NPOs) and teams."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, new_id, utcnow


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # vocab.OrgKind
    # The municipality an outside operator works for; None for the municipality itself.
    municipality_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisation.id"))
    # City-level configuration: milestone ladder relabels/hidden steps, and so on.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "team"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The municipality whose cases the team works on (a supervisor's scope).
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), index=True)
    # Who runs the team: the municipality itself, or a contracted 社協 / NPO.
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    # Stall-rule thresholds that differ from DOMAIN.md §4's defaults.
    stall_thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
