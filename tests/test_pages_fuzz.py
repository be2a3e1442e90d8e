"""The office pages' query parameters fuzzed as a supervisor (the widest scope): filters, sorting,
paging, periods and export formats with odd values answer a page or a 4xx, never a 5xx."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.factories import Factory, login

PAGES = {
    "/cases": ["q", "status", "category", "stage", "alert", "silent", "sort", "team", "worker", "page", "active"],
    "/dashboard": ["fiscal_year", "fy", "quarter", "team", "unsynced_days"],
    "/reports/outreach.csv": ["fiscal_year", "fy", "quarter", "team"],
    "/reports/contacts.csv": ["from", "to", "team"],
    "/alerts": ["state", "done"],
    "/admin/devices": ["done"],
    "/login": ["next"],
}
ODD = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "-1", "1e309", "nan", "2025-02-30", "0001-01-01", "9999-12-31", "99999", "desc",
                     "00000000-0000-0000-0000-000000000000", "//evil.example", "/\\evil", "all", "any", "closed"]),
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    page = draw(st.sampled_from(sorted(PAGES)))
    keys = draw(st.lists(st.sampled_from(PAGES[page]), max_size=4, unique=True))
    return page, {key: draw(ODD) for key in keys}


def test_office_query_parameters(client: TestClient, factory: Factory) -> None:
    worker = factory.user("w1")
    factory.user("s1", role="supervisor")
    case = factory.case(workers=(worker,))
    factory.contact(case, worker)
    login(client, "s1")

    @given(request=requests())
    @settings(max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def visit(request: tuple[str, dict[str, str]]) -> None:
        page, params = request
        r = client.get(page, params=params, follow_redirects=False)
        assert r.status_code < 500, (page, params)
        if r.status_code in (301, 302, 303, 307):
            location = r.headers["location"]
            assert location.startswith("/") and not location.startswith(("//", "/\\")), location

    visit()
