"""The instructor's dashboard as a JupyterHub service, for real: `dflab hub config --dashboard`, JupyterHub 5 with
configurable-http-proxy from .venv/bin, the service started by the hub, every request through the proxy.

An instructor logs in with their access code and gets the dashboard's page (the session's trainees, the
anti-forgery token), reads its live part and starts an action with that token (without it: 403); a trainee logs in
and is refused (403, by the hub's OAuth); a browser with no log-in is sent to the hub's log-in page. In Debian's
Chromium, the page behind the hub refreshes itself and Collect runs from it (a screenshot is kept).

Kept small: no lab is spawned (tests/test_hub.py spawns them), so the course `hub config` reads is written here
(a released folder and one evidence manifest, which only a spawn would use), and the session whose dashboard the
hub serves is written as tests/test_dashboard.py writes one (no lab runs).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import requests

from dflab.hub.config import INSTRUCTOR_TOKEN_FILE
from dflab.roster import read_roster
from dflab.session.manager import Session
from tests.test_dashboard import LAB, saved_notebook
from tests.test_hub import HTTP_TIMEOUT, Hub, access_codes, free_port, invoke, login, serving
from tests.test_validate_button import CHROMIUM, CHROMIUM_ARGS, _playwright

TRAINEE, INSTRUCTOR = "alice", "teacher"
SERVICE = "/services/dflab-dashboard/"
HUB_START_TIMEOUT = 120.0
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub-dashboard")
    roster = root / "roster.csv"
    roster.write_text(f"id\n{TRAINEE}\n", encoding="utf-8")
    course, state = root / "course", root / "state"
    (course / "release" / LAB.name).mkdir(parents=True)
    (course / "release" / LAB.name / "README.md").write_text("handout\n", encoding="utf-8")
    (course / "evidence" / TRAINEE / "evidence").mkdir(parents=True)
    (course / "evidence" / TRAINEE / "evidence" / "manifest.json").write_text("{}\n", encoding="utf-8")
    session = Session(root / "session")
    session.configure("local", LAB, "", "hub-dashboard-test-secret")
    session.add_trainees(read_roster(roster), "hub-dashboard-test-secret")
    session.state.update(TRAINEE, status="stopped")
    folder = session.dir / "workspaces" / TRAINEE / LAB.name
    folder.mkdir(parents=True)
    nbformat.write(saved_notebook({"manifest_sha256": "0f" * 32}), folder / f"{LAB.name}.ipynb")

    name = f"t{secrets.token_hex(4)}"
    port = free_port()
    invoke("hub", "config", "--roster", str(roster), "--course", str(course), "--lab", LAB.name,
           "--state-dir", str(state), "--name", name, "--port", str(port), "--hub-port", str(free_port()),
           "--proxy-api-port", str(free_port()), "--dashboard", str(session.dir), "--instructor", INSTRUCTOR,
           "--dashboard-port", str(free_port()))
    h = Hub(name, f"http://127.0.0.1:{port}", state, course, root / "hub.log",
            (state / INSTRUCTOR_TOKEN_FILE).read_text().strip())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # Up when the proxy routes to the service and the service answers (a redirect to the hub's OAuth).
    with serving(h, env, "the dashboard service through the proxy",
                 lambda: requests.get(h.url + SERVICE, timeout=5, allow_redirects=False).status_code == 302,
                 HUB_START_TIMEOUT):
        yield h


def test_no_log_in_is_sent_to_the_hubs_log_in_page(hub: Hub) -> None:
    first = requests.get(hub.url + SERVICE, timeout=HTTP_TIMEOUT, allow_redirects=False)
    assert first.status_code == 302 and "/hub/api/oauth2/authorize" in first.headers["Location"], first.headers
    landed = requests.get(hub.url + SERVICE, timeout=HTTP_TIMEOUT)
    assert landed.status_code == 200 and landed.url.startswith(f"{hub.url}/hub/login"), landed.url
    data = requests.get(f"{hub.url}{SERVICE}api/data", timeout=HTTP_TIMEOUT, allow_redirects=False)
    assert data.status_code == 302 and 'data-trainee' not in data.text  # the data too, not only the page


def test_an_instructor_gets_the_page_and_acts_with_its_anti_forgery_token(hub: Hub) -> None:
    browser = login(hub, INSTRUCTOR, access_codes(hub)[INSTRUCTOR])
    assert browser.status == 302  # type: ignore[attr-defined]
    page = browser.get(hub.url + SERVICE, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and page.url == hub.url + SERVICE, (page.status_code, page.url, page.text[:300])
    assert f'data-trainee="{TRAINEE}"' in page.text and "<th scope=\"col\">steps done</th>" in page.text
    xsrf = re.search(r'<meta name="dflab-xsrf" content="([^"]+)">', page.text)
    assert xsrf, page.text[:500]
    view = browser.get(f"{hub.url}{SERVICE}api/data", timeout=HTTP_TIMEOUT, headers={"X-XSRFToken": xsrf[1]})
    assert view.status_code == 200 and view.json()["trainees"][0]["steps_done"] == 1, view.text[:300]
    action = f"{hub.url}{SERVICE}api/actions/collect"
    forged = browser.post(action, json={}, timeout=HTTP_TIMEOUT, allow_redirects=False)
    assert forged.status_code == 403, forged.text  # the cookie alone does not act
    started = browser.post(action, json={}, timeout=HTTP_TIMEOUT, headers={"X-XSRFToken": xsrf[1]})
    assert started.status_code == 202, started.text
    assert started.json()["job"]["action"] == "collect"


def test_a_trainee_is_refused(hub: Hub) -> None:
    browser = login(hub, TRAINEE, access_codes(hub)[TRAINEE])
    assert browser.status == 302  # type: ignore[attr-defined]
    refused = browser.get(hub.url + SERVICE, timeout=HTTP_TIMEOUT)
    assert refused.status_code == 403, (refused.url, refused.text[:300])
    assert f'data-trainee="{TRAINEE}"' not in refused.text
    issued = hub.api("POST", f"/users/{TRAINEE}/tokens", json={"note": "test", "expires_in": 600})
    assert issued.status_code in (200, 201), issued.text
    with_token = requests.get(f"{hub.url}{SERVICE}api/data", timeout=HTTP_TIMEOUT, allow_redirects=False,
                              headers={"Authorization": f"token {issued.json()['token']}"})
    assert with_token.status_code == 403, with_token.text  # the service checks the scope itself too


def test_the_page_works_in_chromium_through_the_hub(hub: Hub, tmp_path: Path) -> None:
    """Debian's Chromium: the hub's log-in form, then the page refreshing itself and Collect pressed, every request
    the script makes authenticated by the cookie and the page's anti-forgery token (never a redirect to log in)."""
    sync_playwright = _playwright()
    from playwright.sync_api import expect  # after _playwright(): its absence is one line saying how to install it

    print(f"screenshots: {tmp_path}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(hub.url + SERVICE)
            assert "/hub/login" in page.url, page.url
            page.fill("#username_input", INSTRUCTOR)
            page.fill("#password_input", access_codes(hub)[INSTRUCTOR])
            page.click("#login_submit")
            page.wait_for_url(hub.url + SERVICE, timeout=WAIT_MS)
            expect(page.locator(f'#trainees tr[data-trainee="{TRAINEE}"] td.steps')).to_have_text(
                re.compile(r"^1/\d+$"), timeout=WAIT_MS)
            # What the script's refresh does, asked from the page: an answer of the dashboard's, not a log-in's.
            seen = page.evaluate("""async () => {
                const xsrf = document.querySelector('meta[name="dflab-xsrf"]').content;
                const r = await fetch("view", {headers: {"X-XSRFToken": xsrf}, cache: "no-store"});
                return {status: r.status, redirected: r.redirected, body: await r.text()};
            }""")
            assert seen["status"] == 200 and not seen["redirected"] and "<html" not in seen["body"], seen
            jobs = page.locator("#jobs tr[data-job]")
            before = jobs.count()
            page.click('button[data-action="collect"]')
            expect(page.locator("#message")).to_have_text("Collect: started", timeout=WAIT_MS)
            expect(jobs).to_have_count(before + 1, timeout=WAIT_MS)  # the refreshed view lists the new job
            expect(jobs.first).to_have_class(re.compile(r"\bdone\b"), timeout=WAIT_MS)
            expect(page.locator("#message")).to_have_text("Collect: started")  # no refresh failed since
            page.screenshot(path=str(tmp_path / "hub-dashboard.png"), full_page=True)
        finally:
            browser.close()
