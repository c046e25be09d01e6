"""A trainee's language under the hub (issue #16): `dflab hub config` passes the roster's ``lang`` as a session does.

The cheap checks first: an all-English cohort renders the config it always did, a language is validated like the
roster's, and the config command seeds each language's workspaces from that language's release. Then, for real, as
tests/test_hub.py does: `dflab course init` and `dflab hub config` for a roster with a French trainee (alice) and
an English one (bob), JupyterHub running the rendered file, both labs spawned by DockerSpawner from the trainee image.
alice's container gets ``DFLAB_LANG=fr``, the French release as her seed and JupyterLab's French settings (its
locale, and no Validate button: dflab/i18n/lang.py says why); bob's lab is the English one, unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from docker.models.containers import Container

from dflab.errors import DflabError
from dflab.hub.config import render_config, seed_script
from dflab.i18n.lang import LANG_ENV, lab_settings, lab_settings_option
from dflab.labserver import LAB_SETTINGS_DIR
from dflab.provision.docker_backend import _seed_then_serve
from dflab.provision.trainee_container import LAB_SEED_TARGET
from tests import docker_fixtures
from tests import test_validate_button as browser_kit
from tests.test_hub import HTTP_TIMEOUT, SPAWN_TIMEOUT, Hub, invoke, running_hub, wait_for
from tests.test_hub_config import run_dflab, settings

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image

FRENCH, ENGLISH = "alice", "bob"
LAB = "02-disk"
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
LOCALE_PLUGIN = "@jupyterlab/translation-extension:plugin"
WORKSPACE_MIB = 64


def test_an_english_cohort_renders_the_config_it_always_did() -> None:
    english = render_config(settings())
    assert render_config(settings(languages={"alice": "en", "bob": "en"})) == english
    assert "LANGUAGES" not in english and "in_language" not in english
    french = render_config(settings(languages={"alice": "fr", "bob": "en"}))
    compile(french, "jupyterhub_config.py", "exec")
    assert "TRAINEE_LANGUAGES = {\n    'alice': 'fr',\n}" in french  # only who is not in English
    assert "in_language(TRAINEE_LANGUAGES, STATE / 'lab')" in french and "c.DockerSpawner.cmd = " in french
    # the container command of an English trainee is the one the Kubernetes values and the example hold
    assert seed_script("en") == seed_script()


def test_the_hub_starts_a_lab_in_a_language_as_the_docker_backend_does() -> None:
    """One shell option, from dflab/i18n/lang.py, in the hub's command and in a session's container command."""
    for lang in ("fr", "es"):
        option = lab_settings_option(lang)
        assert option.endswith(f'/labsettings/{lang}"') and option in seed_script(lang)[2]
        assert _seed_then_serve(lang)[2].endswith(option)
        assert seed_script(lang)[2].replace(option, "") == seed_script()[2]
    assert lab_settings_option("en") == ""
    with pytest.raises(ValueError):
        lab_settings_option("de; rm -rf /")


@pytest.mark.parametrize(("languages", "message"), [
    ({"carol": "fr"}, "'carol' has a language but is not on the roster"),
    ({"alice": "de"}, "alice: lang 'de' is not one of the labs' languages (en, fr, es)"),
    ({"alice": "fr-FR"}, "alice: lang 'fr-FR' is not one of the labs' languages"),  # the roster normalises, not here
])
def test_a_bad_language_is_refused(languages: dict[str, str], message: str) -> None:
    with pytest.raises(DflabError) as caught:
        settings(languages=languages)
    assert caught.value.where == "--roster" and message in str(caught.value)


def _fake_course(root: Path, langs: tuple[str, ...]) -> Path:
    """The parts of a course `dflab hub config` reads: each language's release of LAB and the evidence manifests."""
    course = root / "course"
    for lang in langs:
        folder = course / ("release" if lang == "en" else f"release-{lang}") / LAB
        folder.mkdir(parents=True)
        (folder / f"{LAB}.ipynb").write_text(f"notebook in {lang}\n", encoding="utf-8")
    for trainee in (FRENCH, ENGLISH):
        (course / "evidence" / trainee / "evidence").mkdir(parents=True)
        (course / "evidence" / trainee / "evidence" / "manifest.json").write_text("{}", encoding="utf-8")
    return course


def test_hub_config_seeds_each_language_from_its_release(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,lang\n{FRENCH},fr-FR\n{ENGLISH},\n", encoding="utf-8")
    course, state = _fake_course(tmp_path, ("en", "fr")), tmp_path / "state"
    invoke("hub", "config", "--roster", str(roster), "--course", str(course), "--lab", LAB, "--state-dir", str(state))
    assert (state / "lab" / LAB / f"{LAB}.ipynb").read_text() == "notebook in en\n"
    assert (state / "lab-fr" / LAB / f"{LAB}.ipynb").read_text() == "notebook in fr\n"
    assert not (state / "lab-es").exists()
    config = (state / "jupyterhub_config.py").read_text(encoding="utf-8")
    assert "TRAINEE_LANGUAGES = {\n    'alice': 'fr',\n}" in config


def test_a_course_without_the_language_release_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(f"id,lang\n{FRENCH},es\n{ENGLISH},en\n", encoding="utf-8")
    course = _fake_course(tmp_path, ("en", "fr"))  # initialised for another roster: no Spanish release
    code, err = run_dflab(capsys, monkeypatch, "hub", "config", "--roster", str(roster), "--course", str(course),
                          "--lab", LAB, "--state-dir", str(tmp_path / "state"))
    assert code != 0
    assert err.strip() == (f"dflab: error: {course / 'release-es' / LAB}: the course has no release of lab "
                           f"'{LAB}' in 'es' (run `dflab course init {course} --roster {roster} --lab {LAB}`)")
    assert not (tmp_path / "state").exists()


# --- The real hub --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(trainee_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub-lang")
    with running_hub(trainee_image, root, f"id,name,lang\n{FRENCH},Alice,fr-FR\n{ENGLISH},Bob,\n") as h:
        yield h


def spawn(hub: Hub, trainee: str) -> tuple[Container, str]:
    """Start ``trainee``'s lab through the hub's REST API; return its container and a token of theirs."""
    response = hub.api("POST", f"/users/{trainee}/server")
    assert response.status_code in (201, 202), f"{response.status_code} {response.text}\n{hub.log_tail()}"
    wait_for(f"{trainee}'s lab to be ready", hub,
             lambda: hub.api("GET", f"/users/{trainee}").json().get("servers", {}).get("", {}).get("ready"),
             SPAWN_TIMEOUT)
    found = docker.from_env(timeout=60).containers.list(
        filters={"label": [f"dflab.hub={hub.name}", f"dflab.trainee={trainee}"]})
    assert len(found) == 1, hub.log_tail()
    token = hub.api("POST", f"/users/{trainee}/tokens", json={"note": "test", "expires_in": 600})
    assert token.status_code in (200, 201), token.text
    return found[0], token.json()["token"]


def what_the_lab_serves(hub: Hub, trainee: str, token: str) -> tuple[dict[str, object], dict[str, object]]:
    """(JupyterLab's page config, its translation settings' schema), through the proxy as the trainee's browser."""
    headers = {"Authorization": f"token {token}"}
    page = requests.get(f"{hub.url}/user/{trainee}/lab", headers=headers, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.status_code
    [data] = re.findall(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S)
    setting = requests.get(f"{hub.url}/user/{trainee}/lab/api/settings/{LOCALE_PLUGIN}", headers=headers,
                           timeout=HTTP_TIMEOUT)
    assert setting.status_code == 200, setting.text
    return json.loads(data), setting.json()["schema"]


def run_in(container: Container, *cmd: str) -> str:
    result = container.exec_run(list(cmd))
    assert result.exit_code == 0, result.output
    return result.output.decode(errors="replace")


# Every process's command line in a container, as JSON: the single-user server is one of them (under tini).
PROCESSES = ("import json, os\nfound = []\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n"
             "    try:\n        found.append(open(f'/proc/{pid}/cmdline').read().rstrip('\\0').split('\\0'))\n"
             "    except OSError:\n        pass\nprint(json.dumps(found))\n")


def container_facts(container: Container) -> tuple[dict[str, str], str, list[str]]:
    """(its environment, the source of its seed mount, the single-user server's command line as running) of a lab."""
    container.reload()
    environ = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    [seed] = [m["Source"] for m in container.attrs["Mounts"] if m["Destination"] == LAB_SEED_TARGET]
    processes = json.loads(run_in(container, "python", "-c", PROCESSES))
    [server] = [argv for argv in processes if any(word.endswith("jupyterhub-singleuser") for word in argv)]
    return environ, seed, server


@pytest.fixture(scope="module")
def french(hub: Hub) -> tuple[Container, str]:
    return spawn(hub, FRENCH)


@pytest.fixture(scope="module")
def english(hub: Hub) -> tuple[Container, str]:
    return spawn(hub, ENGLISH)


NOTEBOOK = f"/home/trainee/work/{LAB}/{LAB}.ipynb"


def test_a_french_trainee_gets_the_french_lab(hub: Hub, french: tuple[Container, str]) -> None:
    container, token = french
    environ, seed, argv = container_facts(container)
    assert environ.get(LANG_ENV) == "fr"
    assert Path(seed) == hub.state / "lab-fr"
    # The workspace was seeded with the French release, and JupyterLab runs with the image's French settings.
    released = hub.course / "release-fr" / LAB / f"{LAB}.ipynb"
    assert run_in(container, "cat", NOTEBOOK) == released.read_text(encoding="utf-8")
    assert released.read_bytes() != (hub.course / "release" / LAB / f"{LAB}.ipynb").read_bytes()
    image_dflab = run_in(container, "python", "-I", "-c", "import dflab, os; print(os.path.dirname(dflab.__file__))")
    assert f"--LabApp.app_settings_dir={image_dflab.strip()}/labsettings/fr" in argv, argv
    page, schema = what_the_lab_serves(hub, FRENCH, token)
    assert schema["properties"]["locale"]["default"] == "fr_FR"  # type: ignore[index]
    assert page["disabledExtensions"] and VALIDATE_PLUGIN in page["disabledExtensions"]  # type: ignore[operator]
    # The same settings the local backend gives a French lab (dflab/labsettings/fr/).
    assert json.loads((lab_settings(LAB_SETTINGS_DIR, "fr") / "page_config.json").read_text())[
        "disabledExtensions"][VALIDATE_PLUGIN] is True


def test_an_english_trainee_of_the_same_hub_gets_the_english_lab(hub: Hub, english: tuple[Container, str]) -> None:
    container, token = english
    environ, seed, argv = container_facts(container)
    assert LANG_ENV not in environ and Path(seed) == hub.state / "lab"
    assert not any(a.startswith("--LabApp.app_settings_dir") for a in argv), argv
    assert container.attrs["Config"]["Cmd"][:3] == seed_script()[:3]
    assert run_in(container, "cat", NOTEBOOK) == (hub.course / "release" / LAB / f"{LAB}.ipynb").read_text("utf-8")
    page, schema = what_the_lab_serves(hub, ENGLISH, token)
    assert schema["properties"]["locale"]["default"] != "fr_FR"  # type: ignore[index]
    assert VALIDATE_PLUGIN not in (page.get("disabledExtensions") or [])  # type: ignore[operator]


def test_the_french_trainee_logs_in_and_reads_her_lab_in_french(hub: Hub, french: tuple[Container, str],
                                                                tmp_path: Path) -> None:
    """In Debian's Chromium, through the hub's log-in page with her access code: French menus, the French notebook,
    no Validate button. The screenshot is saved under the test's tmp path (its name printed)."""
    sync_playwright = browser_kit._playwright()
    code = dict(line.split(",") for line in (hub.state / "access.csv").read_text().splitlines()[1:])[FRENCH]
    title = json.loads((hub.course / "release-fr" / LAB / f"{LAB}.ipynb").read_text(encoding="utf-8"))
    heading = next(line for cell in title["cells"] if cell["cell_type"] == "markdown"
                   for line in "".join(cell["source"]).splitlines() if line.startswith("# "))
    shot = tmp_path / "hub-french-lab.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_kit.CHROMIUM), args=browser_kit.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{hub.url}/hub/login?next=/user/{FRENCH}/lab/tree/{LAB}/{LAB}.ipynb")
            page.fill("input[name=username]", FRENCH)
            page.fill("input[name=password]", code)
            page.click("input[type=submit], button[type=submit]")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
            menus = page.locator("#jp-menu-panel, .lm-MenuBar-content").first.inner_text(timeout=60_000)
            toolbar = page.locator(".jp-NotebookPanel-toolbar", has_text="Python 3").first
            toolbar.wait_for(timeout=120_000)
            page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").first.wait_for(timeout=120_000)
            shown = page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").first.inner_text()
            tools, validate_buttons = toolbar.inner_text(), page.locator(".validate-button").count()
        finally:
            page.screenshot(path=str(shot))
            print(f"\nFrench trainee's lab under the hub, screenshot: {shot}")
            browser.close()
    assert "Fichier" in menus and "Noyau" in menus and "File" not in menus.split(), (menus, shot)
    assert shown.strip().rstrip("¶").strip() == heading.removeprefix("# ").strip(), (shown, heading, shot)
    assert validate_buttons == 0 and "Validate" not in tools, (tools, shot)
