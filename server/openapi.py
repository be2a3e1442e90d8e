"""The OpenAPI 3.1 description of the JSON API (`GET /api/openapi.json`), kept as a plain dict.

It holds no data, only shapes; it is public like the app shell. Every `/api` route is described
here and nothing else is (tests/test_openapi.py compares it with the routes), and Schemathesis
fuzzes the API against it as each role (tests/test_api_fuzz.py). Sync's rules are
sync/PROTOCOL.md; the shapes here are what a client may rely on.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
UUID: Schema = {"type": "string", "format": "uuid"}
NULLABLE_UUID: Schema = {"type": ["string", "null"], "format": "uuid"}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_DATE: Schema = {"type": ["string", "null"], "format": "date"}
OBJECT: Schema = {"type": "object"}

ERROR_MEANING = {
    400: "malformed request",
    401: "not signed in, wrong credentials, second factor needed, or a revoked device",
    403: "the role lacks the permission, or the device belongs to someone else",
    404: "not found or not in the actor's scope",
    409: "the record changed meanwhile",
    413: "the body or batch is too large",
    422: "a value is invalid (`field` names it)",
    429: "too many failed sign-ins; see Retry-After",
    503: "the database is busy; retry after Retry-After",
}

USER: Schema = {
    "type": "object",
    "required": ["id", "username", "display_name", "role", "team_id", "language", "era_dates"],
    "properties": {
        "id": UUID,
        "username": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"enum": ["worker", "coordinator", "supervisor", "admin"]},
        "team_id": UUID,
        "language": {"type": "string"},
        "era_dates": {"type": "boolean"},
    },
}
USER_ANSWER: Schema = {
    "type": "object",
    "required": ["user"],
    "properties": {"user": {"$ref": "#/components/schemas/User"}},
}

ALERT: Schema = {
    "type": "object",
    "required": ["id", "rule", "level", "state", "case_id", "team_id", "opened_at", "label", "url"],
    "properties": {
        "id": UUID,
        "rule": {"type": "string"},
        "level": {"type": "string"},
        "state": {"enum": ["open", "acknowledged", "resolved"]},
        "case_id": NULLABLE_UUID,
        "subject_user_id": NULLABLE_UUID,
        "team_id": UUID,
        "opened_at": {"type": "string", "format": "date-time"},
        "escalated": {"type": "boolean"},
        "escalated_at": NULLABLE_TIME,
        "acknowledged_at": NULLABLE_TIME,
        "acknowledged_by": NULLABLE_UUID,
        "ack_note": {"type": ["string", "null"]},
        "ack_next_date": NULLABLE_DATE,
        "resolved_at": NULLABLE_TIME,
        "label": {"type": "string"},
        "level_label": {"type": "string"},
        "state_label": {"type": "string"},
        "url": {"type": "string"},
    },
}
ALERT_ANSWER: Schema = {
    "type": "object",
    "required": ["alert"],
    "properties": {"alert": {"$ref": "#/components/schemas/Alert"}},
}

MUTATION_NAMES = [
    "contact.create",
    "contact.amend",
    "milestone.record",
    "consent.record",
    "consent.withdraw",
    "case.create",
    "case.update",
    "alert.acknowledge",
]
PUSH_REQUEST: Schema = {
    "type": "object",
    "required": ["client_id", "schema_version", "mutations"],
    "properties": {
        "client_id": UUID,
        "schema_version": {"const": 1},
        "outbox_depth": {"type": "integer", "minimum": 0},
        "mutations": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["mid", "name", "args"],
                "properties": {
                    "mid": {"type": "integer", "minimum": 1},
                    "name": {"type": "string", "examples": MUTATION_NAMES},
                    "args": OBJECT,
                    "client_time": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}
MUTATION_RESULT: Schema = {
    "type": "object",
    "required": ["mid", "status"],
    "properties": {
        "mid": {"type": "integer"},
        "status": {"enum": ["applied", "conflict", "rejected", "duplicate"]},
        "error": {"$ref": "#/components/schemas/Error/properties/error"},
        "conflicts": {"type": "array", "items": OBJECT},
        "original": OBJECT,
    },
}
PUSH_ANSWER: Schema = {
    "type": "object",
    "required": ["last_mid", "epoch", "results"],
    "properties": {
        "last_mid": {"type": "integer", "minimum": 0},
        "epoch": UUID,
        "results": {"type": "array", "items": MUTATION_RESULT},
    },
}
CHANGE: Schema = {
    "type": "object",
    "required": ["entity", "id", "op"],
    "properties": {
        "entity": {"enum": ["case", "contact", "milestone", "consent", "alert", "conflict", "reference"]},
        "id": {"type": "string"},
        "op": {"enum": ["put", "remove"]},
        "data": OBJECT,
        "case_id": {"type": "string"},
    },
}
PULL_ANSWER: Schema = {
    "type": "object",
    "required": ["changes", "cursor", "has_more", "reset", "last_mid", "epoch"],
    "properties": {
        "changes": {"type": "array", "items": CHANGE},
        "cursor": {"type": "string"},
        "has_more": {"type": "boolean"},
        "reset": {"type": "boolean"},
        # null when the pull names no installation (no client_id, and a session without a device)
        "last_mid": {"type": ["integer", "null"], "minimum": 0},
        "epoch": UUID,
    },
}
DEVICE_KEY: Schema = {
    "type": "object",
    "required": ["key", "policy"],
    "properties": {
        "key": {"type": "string"},
        "policy": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
        },
    },
}


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    summary: str,
    ok: dict[int, Schema],
    errors: tuple[int, ...],
    *,
    body: Schema | None = None,
    params: list[Schema] | None = None,
    public: bool = False,
) -> Schema:
    responses: dict[str, Schema] = {str(code): answer for code, answer in ok.items()}
    for code in (*errors, *(() if public else (401,)), 503):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    op: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _query(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_id(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


DEVICE_HEADER: Schema = {
    "name": "X-Yorisoi-Device",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The installation's client_id; must be the device of the session",
}
NO_CONTENT: Schema = {"description": "Done"}


def document() -> Schema:
    """The whole OpenAPI document."""
    paths: dict[str, dict[str, Schema]] = {
        "/api/openapi.json": {
            "get": _op("This document", {200: _json(OBJECT)}, (), public=True),
        },
        "/api/session": {
            "post": _op(
                "Sign in (two-factor code for office roles)",
                {200: _json(_ref("UserAnswer"))},
                (400, 401, 413, 422, 429),
                body={
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string"},
                        "totp": {"type": "string"},
                        "device_id": {"type": "string", "format": "uuid"},
                    },
                },
                public=True,
            ),
            "get": _op("The signed-in user", {200: _json(_ref("UserAnswer"))}, ()),
            "delete": _op("Sign out", {204: NO_CONTENT}, ()),
        },
        "/api/alerts": {
            "get": _op(
                "Alerts about cases in scope",
                {
                    200: _json(
                        {
                            "type": "object",
                            "required": ["alerts", "open_count"],
                            "properties": {
                                "alerts": {"type": "array", "items": _ref("Alert")},
                                "open_count": {"type": "integer"},
                            },
                        }
                    )
                },
                (403, 422),
                params=[
                    _query("state", {"type": "string"}, "live (default), open, acknowledged, resolved, all"),
                    _query("limit", {"type": "string"}, "at most this many (default 200)"),
                ],
            ),
        },
        "/api/alerts/{alert_id}": {
            "get": _op("One alert", {200: _json(_ref("AlertAnswer"))}, (403, 404), params=[_path_id("alert_id")]),
        },
        "/api/alerts/{alert_id}/acknowledge": {
            "post": _op(
                "Acknowledge an alert with a note and the next date",
                {200: _json(_ref("AlertAnswer"))},
                (400, 403, 404, 409, 413, 422),
                params=[_path_id("alert_id")],
                body={
                    "type": "object",
                    "required": ["note", "next_date"],
                    "properties": {"note": {"type": "string"}, "next_date": {"type": "string", "format": "date"}},
                },
            ),
        },
        "/api/push/key": {
            "get": _op(
                "The server's VAPID public key",
                {
                    200: _json(
                        {"type": "object", "required": ["public_key"], "properties": {"public_key": {"type": "string"}}}
                    )
                },
                (),
                public=True,
            ),
        },
        "/api/push/subscriptions": {
            "post": _op(
                "Subscribe this browser to push",
                {201: _json({"type": "object", "required": ["id"], "properties": {"id": UUID}}, "Subscribed")},
                (400, 403, 413, 422),
                body={
                    "type": "object",
                    "required": ["endpoint", "keys"],
                    "properties": {
                        "endpoint": {"type": "string"},
                        "keys": {
                            "type": "object",
                            "properties": {"p256dh": {"type": "string"}, "auth": {"type": "string"}},
                        },
                    },
                },
            ),
            "delete": _op(
                "Unsubscribe",
                {204: NO_CONTENT},
                (400, 413, 422),
                body={"type": "object", "required": ["endpoint"], "properties": {"endpoint": {"type": "string"}}},
            ),
        },
        "/api/device/key": {
            method: _op(summary, ok, (403, 404, 413), params=[DEVICE_HEADER])
            for method, summary, ok in (
                ("get", "The device's wrapping key", {200: _json(_ref("DeviceKey"))}),
                ("post", "Issue the device's wrapping key", {200: _json(_ref("DeviceKey"))}),
                ("delete", "Forget the device's wrapping key", {204: NO_CONTENT}),
            )
        },
        "/api/sync/push": {
            "post": _op(
                "Push queued mutations (sync/PROTOCOL.md §2)",
                {200: _json(_ref("PushAnswer"))},
                (400, 403, 413),
                body=_ref("PushRequest"),
            ),
        },
        "/api/sync/pull": {
            "get": _op(
                "Pull the changes of the scope after a cursor (sync/PROTOCOL.md §5)",
                {200: _json(_ref("PullAnswer"))},
                (400, 403),
                params=[
                    _query("client_id", UUID),
                    _query("cursor", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("outbox_depth", {"type": "integer", "minimum": 0}),
                ],
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Yorisoi API",
            "version": "1",
            "description": "The JSON API of the field app. Sign in with POST /api/session; the session cookie "
            'authorizes the rest. Errors: {"error": {"code", "message", "field"?}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "yorisoi_session",
                    "description": "Set by POST /api/session; named __Host-yorisoi when served over HTTPS",
                }
            },
            "schemas": {
                "Error": ERROR,
                "User": USER,
                "UserAnswer": USER_ANSWER,
                "Alert": ALERT,
                "AlertAnswer": ALERT_ANSWER,
                "DeviceKey": DEVICE_KEY,
                "PushRequest": PUSH_REQUEST,
                "PushAnswer": PUSH_ANSWER,
                "PullAnswer": PULL_ANSWER,
            },
            "responses": {f"E{code}": _json(_ref("Error"), meaning) for code, meaning in ERROR_MEANING.items()},
        },
    }
