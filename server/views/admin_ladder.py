"""The admin page for the city's milestone ladder (`/admin/ladder`): relabel steps in Japanese and
English, hide steps from the choices. Admins only (settings.admin); the page shows configuration,
never case content. The rules live in server/services/ladder.py; the change is audited there.

The form sends every step at once. A blank label means the standard label, so clearing a field is how
an admin puts the default back.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import Route

from server import i18n
from server.errors import ApiError
from server.permissions import Permission
from server.services import ladder as ladders
from server.views.base import Ctx, render, route
from server.views.settings_form import just_saved, save_or_show_again


@dataclass(frozen=True)
class Row:
    id: str
    rank: int | None
    defaults: dict[str, str]
    values: dict[str, str]  # the city's label per language, "" for the standard one
    hidden: bool
    hideable: bool


def _rows(values: dict[str, dict[str, str]], hidden: set[str]) -> list[Row]:
    return [
        Row(
            id=s.id,
            rank=s.rank,
            defaults=dict(s.defaults),
            values={lang: values.get(s.id, {}).get(lang, "") for lang in i18n.LANGUAGES},
            hidden=s.id in hidden,
            hideable=s.id not in ladders.NOT_HIDEABLE,
        )
        for s in ladders.default().steps
    ]


def _page(ctx: Ctx, rows: list[Row], status: int = 200, error: ApiError | None = None) -> Response:
    return render(
        ctx,
        "admin_ladder.html",
        status,
        rows=rows,
        languages=i18n.LANGUAGES,
        max_label=ladders.MAX_LABEL,
        done=just_saved(ctx),
        error=error.code if error else None,
        # Which step and language the error is about ("<ID>.labels.<lang>", "<ID>.hidden", "<ID>").
        error_step=(error.field or "").split(".")[0] if error else None,
        error_lang=(error.field or "").split(".")[-1] if error else None,
    )


@route(Permission.SETTINGS_ADMIN, page=True)
def ladder_page(ctx: Ctx) -> Response:
    config = ladders.config_for(ctx.db, ctx.me.municipality_id)
    values = {m: dict(c.labels) for m, c in config.items()}
    return _page(ctx, _rows(values, {m for m, c in config.items() if c.hidden}))


@route(Permission.SETTINGS_ADMIN, page=True)
def ladder_save(ctx: Ctx) -> Response:
    form = ctx.form()
    values: dict[str, dict[str, str]] = {}
    hidden: set[str] = set()
    raw: dict[str, dict[str, object]] = {}
    for step in ladders.default().steps:
        labels = {}
        for lang in i18n.LANGUAGES:
            text = form.get(f"label_{lang}.{step.id}", "")
            values.setdefault(step.id, {})[lang] = text
            if text.strip():
                labels[lang] = text
        if form.get(f"hidden.{step.id}") == "1":
            hidden.add(step.id)
        raw[step.id] = {"labels": labels, "hidden": step.id in hidden}
    return save_or_show_again(
        lambda: ladders.save(ctx.db, ctx.me, ctx.me.municipality_id, raw),
        "/admin/ladder",
        lambda exc: _page(ctx, _rows(values, hidden), 422, exc),
    )


routes = [
    Route("/admin/ladder", ladder_page, methods=["GET"]),
    Route("/admin/ladder", ladder_save, methods=["POST"]),
]
