"""The dashboard in a real headless Chromium against a real controller and real agents.

It signs in, shows every core of the running system, shows a job submitted through
the API without a reload (the stream pushes it, as a patch that leaves the other cells'
elements, focus and marks alone), shows the same why-pending text as
the API, shows a steal and its give-back on the grid, and shows a person of another
organization none of it.
"""
from __future__ import annotations

import httpx
import pytest

from tests.live import LiveCluster, wait_for
from tests.web.browser import chromium_page

pytestmark = pytest.mark.slow
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster(tmp_path):
    live = LiveCluster(tmp_path)
    live.start_controller()
    live.start_agent("a0", "0")
    live.start_agent("a1", "1")
    yield live
    live.stop()


def sign_in(page, url: str, token: str) -> None:
    page.goto(url)
    page.fill("input[name=token]", token)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#board:not([hidden])")


def cell_of(page, job_id: int):
    return page.locator(f'#grid .core[data-job="{job_id}"]')


def test_the_dashboard_shows_the_running_system_live(cluster):
    with chromium_page() as (page, errors):
        sign_in(page, cluster.url, cluster.token)
        page.wait_for_function("document.querySelectorAll('#grid .core').length === 2")
        first = cluster.submit(["sleep", "60"], cores=1)
        cell_of(page, first["id"]).wait_for(timeout=10_000)  # pushed by the stream: the page was not reloaded
        second = cluster.submit(["sleep", "60"], cores=1)
        cell_of(page, second["id"]).wait_for(timeout=10_000)
        colours = [cell_of(page, j["id"]).evaluate("e => getComputedStyle(e).backgroundColor") for j in (first, second)]
        assert colours[0] != colours[1]
        label = cell_of(page, first["id"]).get_attribute("aria-label")
        assert f"job {first['id']}" in label and "admin" in label and "1 cores requested" in label
        waiting = cluster.submit(["sleep", "60"], cores=1)
        reason = wait_for(lambda: cluster.job(waiting["id"])["reason"], 15, what="a why-pending reason")
        row = page.locator("#queue tr", has_text=f"{waiting['id']} ")
        row.wait_for(timeout=10_000)
        page.wait_for_function("([id, reason]) => [...document.querySelectorAll('#queue tr')].some("
                               "r => r.textContent.includes(id + ' ') && r.lastChild.textContent === reason)",
                               arg=[str(waiting["id"]), cluster.job(waiting["id"])["reason"]], timeout=10_000)
        assert reason
        page.screenshot(path=str(ROOT / "docs" / "img" / "dashboard.png"), full_page=True)
        assert errors == []


def test_a_submitted_job_arrives_as_a_patch_and_the_untouched_cells_are_left_alone(cluster):
    with chromium_page() as (page, errors):
        sign_in(page, cluster.url, cluster.token)
        page.wait_for_function("document.querySelectorAll('#grid .core').length === 2")
        # Marks only this test puts on the drawn elements: a re-render would lose them.
        page.evaluate("""() => {
          window.gridChanges = 0;
          new MutationObserver((m) => { window.gridChanges += m.length; })
            .observe(document.getElementById('grid'), {childList: true});
          document.querySelectorAll('#grid .core').forEach((c) => { c.dataset.marker = 'drawn'; });
        }""")
        page.focus('#grid .core[data-index="0"]')
        labels = page.evaluate("Object.fromEntries([...document.querySelectorAll('#grid .core')]"
                               ".map(c => [c.dataset.index, c.getAttribute('aria-label')]))")
        before = page.evaluate("window.heavenDashboard.received()")
        job = cluster.submit(["sleep", "60"], cores=1)
        cell_of(page, job["id"]).wait_for(timeout=10_000)
        after = page.evaluate("window.heavenDashboard.received()")
        assert after["view"] == before["view"] and after["patch"] > before["patch"]
        assert page.evaluate("window.gridChanges") == 0  # no cell was added or removed
        assert page.locator('#grid .core[data-marker="drawn"]').count() == 2  # the same elements
        taken = cell_of(page, job["id"]).get_attribute("data-index")
        untouched = next(index for index in labels if index != taken)
        assert page.locator(f'#grid .core[data-index="{untouched}"]').get_attribute("aria-label") == labels[untouched]
        assert page.evaluate("document.activeElement.dataset.index") == "0"  # focus stays where it was
        assert page.locator("#queue tr, #running tr", has_text=f"{job['id']} ").count() == 1
        assert errors == []


def test_a_steal_and_the_give_back_are_visible_on_the_grid(tmp_path):
    from tests.e2e.test_core_stealing import STEAL, _idle_then_busy

    cluster = LiveCluster(tmp_path, **STEAL)
    cluster.start_controller()
    try:
        cluster.start_agent("n1", "0-1", "affinity")
        flag = tmp_path / "busy"
        donor = cluster.submit(_idle_then_busy(flag), cores=2, min_cores=1, name="over-asker")
        cluster.wait_pid(donor["id"])
        with chromium_page() as (page, errors):
            sign_in(page, cluster.url, cluster.token)
            cell_of(page, donor["id"]).first.wait_for(timeout=10_000)
            waiter = cluster.submit(["sleep", "60"], cores=1, name="waiter")
            # The idle donor's spare core goes to the waiter: its cell is outlined as lent.
            lent = page.locator(f'#grid .core.lent[data-job="{waiter["id"]}"]')
            lent.wait_for(timeout=30_000)
            assert f"lent by job {donor['id']}" in lent.get_attribute("aria-label")
            assert page.locator("#totals").inner_text().find("1 lent by stealing") >= 0
            flag.touch()  # the donor gets busy: the core comes back, the outline goes
            given_back = (f"document.querySelectorAll('#grid .core[data-job=\"{donor['id']}\"]').length === 2"
                          " && !document.querySelector('#grid .core.lent')")
            page.wait_for_function(given_back, timeout=30_000)
            assert errors == []
        cluster.http.post(f"/api/v1/jobs/{donor['id']}/cancel")
        cluster.http.post(f"/api/v1/jobs/{waiter['id']}/cancel")
    finally:
        cluster.stop()


def test_a_person_of_another_organization_sees_none_of_it(cluster):
    running = cluster.submit(["sleep", "60"], cores=1)
    cluster.wait_pid(running["id"])
    anon = httpx.Client(base_url=cluster.url, timeout=30)
    person = {"username": "mallory", "email": "mallory@example.org", "password": "a long enough password"}
    assert anon.post("/api/v1/auth/register", json=person).status_code == 201
    jwt = anon.post("/api/v1/auth/token", data={"username": "mallory", "password": person["password"]}).json()
    headers = {"Authorization": f"Bearer {jwt['access_token']}"}
    assert anon.post("/api/v1/organizations", json={"name": "elsewhere"}, headers=headers).status_code == 201
    token = anon.post("/api/v1/auth/tokens", json={"name": "browser"}, headers=headers).json()["token"]
    anon.close()
    with chromium_page() as (page, errors):
        sign_in(page, cluster.url, token)
        page.wait_for_function("window.heavenDashboard.view() !== null")
        view = page.evaluate("window.heavenDashboard.view()")
        assert [o["name"] for o in view["organizations"]] == ["elsewhere"]
        assert view["cores"] == [] and view["running"] == [] and view["nodes"] == []
        assert page.locator("#grid .core").count() == 0
        assert page.locator("#running tr, #queue tr, #nodes tr").count() == 0
        assert f"job {running['id']}" not in page.locator("#activity").inner_text()
        assert all(e["job"] is None for e in view["activity"])  # its own organization's creation only
        assert errors == []
