"""The one error shape of the JSON API: {"error": {"code": "snake_case_code", "message": "…"}}.

Messages come from the message catalogue and never contain personal data or request values.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from server import i18n


class ApiError(Exception):
    """Raise from views and services; rendered as JSON (API) or an error page (browser pages)."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.field = field
        self.headers = dict(headers or {})


def error_body(code: str, lang: str = "ja", field: str | None = None) -> dict[str, dict[str, str]]:
    message = i18n.t(lang, f"error.{code}")
    if message == f"error.{code}":
        message = code.replace("_", " ")
    body = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


def error_response(
    status: int,
    code: str,
    lang: str = "ja",
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, lang, field), status_code=status, headers=dict(headers or {}))


def not_found() -> ApiError:
    return ApiError(404, "not_found")


def forbidden() -> ApiError:
    return ApiError(403, "forbidden")


def invalid(field: str, code: str = "invalid_request") -> ApiError:
    return ApiError(422, code, field=field)
