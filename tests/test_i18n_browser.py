"""A French trainee's lab, in Debian's Chromium (issue #16 item 6): a local session started by the real CLI from a
roster whose ``lang`` is ``fr-FR`` seeds alice's workspace from the French handout, starts her lab with
``DFLAB_LANG=fr`` and JupyterLab's French language pack, and `session status` knows her language. In the browser,
JupyterLab's menus are French, the notebook's prose is French, and the answer form's labels, choices, button and
messages are French. nbgrader's Validate button, whose labels no catalog can translate (dflab/i18n/lang.py), is not
in her notebook's toolbar (tests/test_validate_button.py presses it in an English lab). The screenshot is saved under
the test's tmp path (its name printed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dflab.i18n.catalog import translations
from dflab.lab_meta import read_lab
from dflab.session.manager import Session
from tests import test_validate_button as browser_kit
from tests.test_forms import put_notebook
from tests.test_session_local_isolation import DFLAB, TIMEOUT, dflab, kill_leftovers

pytestmark = pytest.mark.xdist_group(name="i18n_browser")

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "labs" / "07-review"
SECRET = "i18n-browser-secret-5d1e"


def test_a_french_trainees_lab_opens_in_french(tmp_path: Path) -> None:
    sync_playwright = browser_kit._playwright()
    assert Path(DFLAB).is_file()
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,lang\nalice,Alice,fr-FR\n", encoding="utf-8")
    session_dir = tmp_path / "session"
    french = translations(LAB, "fr")
    meta = read_lab(LAB)
    label = french[meta.answers["flaw_kinds"].label or ""]
    choice = french[(meta.answers["flaw_kinds"].choices or {})["hash"]]
    shot, prose = tmp_path / "french-lab.png", tmp_path / "french-notebook.png"
    try:
        started = dflab("session", "start", "--backend", "local", "--lab", str(LAB), "--roster", str(roster),
                        "--session-dir", str(session_dir), "--timeout", str(int(TIMEOUT)),
                        env={**os.environ, "DFLAB_COURSE_SECRET": SECRET})
        assert started.returncode == 0, started.stdout + started.stderr
        session = Session.existing(session_dir)
        row = session.state.get("alice")
        assert [h.lang for h in session.status()] == ["fr"]
        # her workspace was seeded from the French handout, and her lab runs in French
        workspace = session_dir / "workspaces" / "alice" / "07-review"
        assert (workspace / "07-review.ipynb").read_bytes() == \
            (session_dir / "handout-fr" / "07-review" / "07-review.ipynb").read_bytes()
        assert (workspace / "07-review.ipynb").read_bytes() != \
            (session_dir / "handout" / "07-review" / "07-review.ipynb").read_bytes()
        environ = Path(f"/proc/{row.backend_state['pid']}/environ").read_bytes().split(b"\0")
        assert b"DFLAB_LANG=fr" in environ
        nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                         "source": "from dflab.lab import answer_form\nanswer_form('kinds')"}],
              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                          "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
        put_notebook(row.url or "", row.token, "07-review/formulaire.ipynb", nb)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(browser_kit.CHROMIUM), args=browser_kit.CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{row.url}lab/tree/07-review/07-review.ipynb?token={row.token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
                menus = page.locator("#jp-menu-panel, .lm-MenuBar-content").first.inner_text(timeout=60_000)
                page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").first.wait_for(timeout=120_000)
                heading = page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").first.inner_text()
                page.screenshot(path=str(prose))
                print(f"\nFrench trainee's notebook screenshot: {prose}")
                # A fresh workspace (?reset): JupyterLab hides a background tab by CSS content-visibility, which
                # Playwright's :visible does not see, so the lab's notebook restored beside the form could be matched.
                page.goto(f"{row.url}lab/tree/07-review/formulaire.ipynb?reset&token={row.token}")
                shown = ".jp-NotebookPanel:visible"  # the form's notebook, the only one open
                page.locator(f"{shown} .jp-NotebookPanel-toolbar", has_text="Python 3").wait_for(timeout=120_000)
                page.wait_for_selector(f"{shown} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       state="attached", timeout=120_000)
                button = page.locator(f"{shown} .jp-OutputArea button", has_text="Vérifier")
                for _ in range(3):  # a run asked for while the new kernel still connects can be dropped: ask again
                    page.locator(f"{shown} .jp-Cell .jp-InputPrompt").first.click()
                    page.keyboard.press("Control+Enter")
                    try:
                        button.wait_for(timeout=60_000)
                        break
                    except PlaywrightTimeout:
                        continue
                button.wait_for(timeout=1_000)
                page.locator(f"{shown} .jp-OutputArea button", has_text="Vérifier").click()
                page.locator(f"{shown} .jp-OutputArea", has_text="Saisissez d'abord une réponse.").wait_for(
                    timeout=60_000)
                form = page.locator(f"{shown} .jp-OutputArea").last.inner_text()
                options = [o.replace("\xa0", " ")  # ipywidgets shows an option's spaces as no-break spaces
                           for o in page.locator(f"{shown} .jp-OutputArea select option").all_inner_texts()]
                # The toolbar is whole by now (Validate, when enabled, joins it as the notebook opens).
                tools = page.locator(f"{shown} .jp-NotebookPanel-toolbar").first.inner_text()
                validate_buttons = page.locator(".jp-NotebookPanel-toolbar .validate-button").count()
                page.screenshot(path=str(shot))
                print(f"\nFrench trainee's lab screenshot: {shot}")
            except Exception:
                page.screenshot(path=str(shot))
                print(f"\nFrench trainee's lab screenshot (at the failure): {shot}")
                raise
            finally:
                browser.close()
    finally:
        dflab("session", "stop", "--purge", "--session-dir", str(session_dir))
        kill_leftovers(session_dir)
    assert validate_buttons == 0 and "Validate" not in tools, (tools, shot)
    for menu in ("Fichier", "Affichage", "Noyau", "Aide"):
        assert menu in menus, (menus, shot)
    assert "File" not in menus.split() and "Help" not in menus.split(), (menus, shot)
    title = french["# Lab 07 — reviewing digital evidence for court"]
    assert title.startswith("# ") and heading.strip().rstrip("¶").strip() == title.removeprefix("# "), (heading, shot)
    assert label in form and "Kinds of flaw" not in form, (form, shot)
    assert choice in options and len(options) == len(meta.answers["flaw_kinds"].choices or {}), (options, shot)
