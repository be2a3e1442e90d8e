"""What the admin settings pages (the milestone ladder, the stall thresholds) do alike with their form:
save it and send the browser back to the page with `?done=saved` (post/redirect/get, so a reload does
not post again), or, when a value is refused (422), show the form again with what was typed and the
error on it, nothing stored. Any other error (403, 404, …) goes to the usual error page.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import RedirectResponse, Response

from server.errors import ApiError
from server.views.base import Ctx

SAVED = "saved"


def just_saved(ctx: Ctx) -> bool:
    """Whether the page is shown right after a save (the notice "saved")."""
    return ctx.request.query_params.get("done") == SAVED


def save_or_show_again(
    save: Callable[[], object], page_url: str, show_again: Callable[[ApiError], Response], fragment: str = ""
) -> Response:
    try:
        save()
    except ApiError as exc:
        if exc.status != 422:
            raise
        # Shown on the form itself, with what was typed, so nothing has to be typed again.
        return show_again(exc)
    return RedirectResponse(f"{page_url}?done={SAVED}" + (f"#{fragment}" if fragment else ""), status_code=303)
