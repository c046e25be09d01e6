"""Lab 01 without programming (issue #16 item 3): the collection decided in forms, carried out by prepared cells.

Lab 01 grades the case folder a trainee hands in (dflab.live.grading, outside the kernel): the order of volatility
in the log, the hashes, completeness, the custody record and the suspect's traits. Without code, the trainee chooses
which volatile sources to collect and in what order (section 2's form), the recovery follows the names typed into the
earlier answer forms, and the case is closed with the hand-over typed into section 10's form.

* In Debian's Chromium, driven by Playwright, alice completes lab 01 on a real local session (her suspect started by
  the lab's hooks): she runs the cells in order, picks the sources in the order of volatility from the drop-downs,
  answers every finding through its form (✓ for each), writes the hand-over, restarts and runs all, saves; the
  instructor's `dflab session collect` and `dflab grade` give every graded cell its full points. No cell is edited.
  Screenshots of each form and of the saved notebook are kept under the test's tmp path (printed).
* Without a browser, the same released notebook is run beside a suspect in fresh namespaces (tests/livekit.py) with
  the forms' values saved as typed: the order chosen is the order graded. The order of volatility scores every
  criterion; the process table before the network connections, or the disk file first, loses the order points and
  nothing else; no hand-over typed leaves the case open (custody lost) and says so instead of stopping the run.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dflab.grading.course import PYTHON_STUB
from dflab.lab.form import ANSWERS_DIR, INPUT_MESSAGES
from dflab.lab_meta import for_trainees, read_lab
from dflab.live import plan
from dflab.live.collect import LOG_NAME, read_log
from dflab.live.criteria import CRITERIA
from dflab.live.grading import check_collection
from dflab.live.traits import expected_traits, suspect_seed
from tests.docker_fixtures import XDIST_GROUP, trainee_image  # noqa: F401 -- the fixture
from tests.livekit import run_as_trainee
from tests.test_docker_image import _run_confined, container_name  # noqa: F401 -- the fixture
from tests.test_nocode_path import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TRAINEE,
    TYPED_IN_FORMS,
    Walk,
    _playwright,
    collect_and_grade,
    contents,
    endpoints,
    key_reader,
    open_notebook,
    run_all_after_restart,
    running_lab,
    save_notebook,
)

# Every test but the image's keeps to this group. xdist joins all of a test's groups into one name, so a
# module-wide mark would send the image test to a group of its own, away from the worker that built the image.
NOCODE = pytest.mark.xdist_group(name="nocode_lab01")

REPO = Path(__file__).resolve().parents[1]
LAB_ID = "01-live"
NOTEBOOK = "01-live.ipynb"
CASE = "case"
VOLATILITY_ORDER = ["network_connections", "logged_in_users", "processes"]
HANDOVER = {plan.CUSTODY_TO_FIELD: "Nightjar evidence custodian",
            plan.CUSTODY_PURPOSE_FIELD: "sealed storage and laboratory analysis"}


# -- in Chromium, on a real local session -------------------------------------------------------------------------

def form_index(released: list[dict[str, Any]], call: str) -> int:
    [index] = [i for i, c in enumerate(released) if c["source"].rstrip().endswith(call)]
    return index


def choose_order(walk: Walk, index: int, sources: list[str]) -> None:
    """Run up to the form at ``index`` and pick ``sources`` in its numbered drop-downs, one per place."""
    walk.run_through(index)
    cell = walk.cells.nth(index)
    places = cell.locator(".widget-dropdown select")
    places.nth(len(sources) - 1).wait_for(timeout=60_000)
    for place, source in enumerate(sources):
        places.nth(place).select_option(label=plan.SOURCES[source])
    cell.locator(".widget-html", has_text=INPUT_MESSAGES["input_saved"]).wait_for(timeout=60_000)
    cell.screenshot(path=str(walk.shots / f"{len(list(walk.shots.iterdir())):02d}-collection-plan.png"))


def type_inputs(walk: Walk, index: int, values: list[str]) -> None:
    """Run up to the form at ``index`` and type ``values`` into its text fields, in order."""
    walk.run_through(index)
    cell = walk.cells.nth(index)
    fields = cell.locator(".widget-text input")
    fields.nth(len(values) - 1).wait_for(timeout=60_000)
    for place, value in enumerate(values):
        fields.nth(place).fill(value)
        fields.nth(place).press("Tab")  # the field loses focus: its value reaches the kernel
    cell.locator(".widget-html", has_text=INPUT_MESSAGES["input_saved"]).wait_for(timeout=60_000)
    cell.screenshot(path=str(walk.shots / f"{len(list(walk.shots.iterdir())):02d}-custody.png"))


@NOCODE
def test_lab_01_without_code_in_chromium_scores_full_marks(tmp_path: Path) -> None:
    shots = tmp_path / "screenshots-01"
    shots.mkdir()
    with running_lab(tmp_path, LAB_ID) as session:
        url, token = endpoints(session)[TRAINEE]
        path = f"{LAB_ID}/{NOTEBOOK}"
        released = contents(url, token, path)["content"]["cells"]
        steps = [s for s in read_lab(REPO / "labs" / LAB_ID).steps if set(s.answers) & TYPED_IN_FORMS[LAB_ID]]
        reader = key_reader(session, LAB_ID)
        marks: dict[str, dict[str, str]] = {}
        with _playwright()() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = open_notebook(browser, url, token, path, released)
                walk = Walk(page, released, shots)
                choose_order(walk, form_index(released, "collection_form()"), VOLATILITY_ORDER)
                for step in steps:
                    marks[step.id] = walk.answer(step.id, list(step.answers), reader(step.id))
                type_inputs(walk, form_index(released, "custody_form()"), list(HANDOVER.values()))
                walk.run_through(len(released) - 1)
                page.screenshot(path=str(shots / "walked.png"), full_page=True)
                run_all_after_restart(page, released, shots)
                save_notebook(page)
                page.screenshot(path=str(shots / "saved.png"), full_page=True)
            finally:
                browser.close()
        print(f"\n{LAB_ID}: screenshots in {shots}")
        assert all(set(m.values()) == {"✓ right"} for m in marks.values()), f"forms not all ✓: {marks}"
        saved = contents(url, token, path)["content"]["cells"]
        assert [c["source"] for c in saved] == [c["source"] for c in released], "a cell was edited: code was typed"
        errors = [(c["source"][:60], o["ename"]) for c in saved for o in c.get("outputs", [])
                  if o["output_type"] == "error"]
        assert not errors, f"cells stopped with an error: {errors}"
        scores, points = collect_and_grade(session, LAB_ID)
    assert sum(points.values()) == 25
    assert scores == points, f"not full marks: {scores} of {points}"


# -- the order chosen is the order graded (no browser) -------------------------------------------------------------

def released_folder(root: Path, typed: dict[str, str]) -> Path:
    """Lab 01's folder as a trainee holds it: the notebook as released (every solution cell the course's stub), the
    trainees' lab.yaml, and ``typed`` saved as the forms save what is typed."""
    folder = root / LAB_ID
    (folder / ANSWERS_DIR).mkdir(parents=True)
    nb = nbformat.read(REPO / "labs" / LAB_ID / "source.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = PYTHON_STUB
    nbformat.write(nb, folder / NOTEBOOK)
    (folder / "lab.yaml").write_text(for_trainees((REPO / "labs" / LAB_ID / "lab.yaml").read_text(encoding="utf-8"),
                                                  LAB_ID), encoding="utf-8")
    (folder / ANSWERS_DIR / f"{LAB_ID}.json").write_text(json.dumps(typed), encoding="utf-8")
    return folder


def outputs(folder: Path, grade_id: str) -> str:
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return "\n".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs)


@NOCODE
@pytest.mark.parametrize(("order", "handover", "lost"), [
    (VOLATILITY_ORDER, True, set()),
    (["processes", "network_connections", "logged_in_users"], True, {"order"}),
    (["disk_file", *VOLATILITY_ORDER], False, {"order", "custody"}),
], ids=["order-of-volatility", "processes-first", "disk-first-no-handover"])
def test_the_order_chosen_in_the_form_is_the_order_graded(order: list[str], handover: bool, lost: set[str],
                                                           tmp_path: Path) -> None:
    seed = suspect_seed(TRAINEE, "nocode-lab01-secret")
    want = expected_traits(seed)
    typed = {"suspect_name": want["exe_name"], "held_file_name": want["held_file"]["name"],
             plan.PLAN_FIELD: ", ".join(order), **(HANDOVER if handover else {})}
    folder = released_folder(tmp_path, typed)
    figures = run_as_trainee(folder, NOTEBOOK, seed)
    assert figures["suspect_running"] == "running"

    entries = read_log(folder / CASE / LOG_NAME)
    assert [e.action for e in entries[1:len(order) + 1]] == ["file" if s == "disk_file" else s for s in order]
    verdicts = {c: check_collection(CASE, want, c, folder) for c in CRITERIA}
    assert {c for c, (ok, _) in verdicts.items() if not ok} == lost, verdicts
    if "order" in lost:
        assert "was collected after" in verdicts["order"][1]
    if not handover:
        assert verdicts["custody"][1].startswith("no custody record (custody.json): the case was not closed")
        assert outputs(folder, "run-close-case").strip() == plan.MESSAGES["no_handover"]
    recovered = outputs(folder, "tools-recovery")
    assert want["exe_sha256"] in recovered and want["held_file"]["sha256"] in recovered
    assert want["beacon"].strip() in recovered


@NOCODE
def test_a_plan_naming_an_unknown_source_or_no_process_collects_nothing(tmp_path: Path) -> None:
    """What the prepared cells refuse is one line, before anything is logged."""
    from dflab.live.collect import Collector

    collector = Collector(tmp_path / CASE, "examiner", "CASE-1")
    with pytest.raises(plan.PlanError, match=r"^'ram' is not a source this lab collects"):
        plan.collect_in_order(collector, ["network_connections", "ram"])
    with pytest.raises(plan.PlanError, match="needs the suspect's process ID"):
        plan.collect_in_order(collector, ["network_connections", "open_files"])
    assert [e.action for e in collector.entries()] == ["open_case"]
    assert plan.PlanError("x")._render_traceback_() == ["PlanError: x"]
    shutil.rmtree(tmp_path / CASE)


@NOCODE
def test_the_kernel_validates_custody_against_the_published_schema() -> None:
    """A lab's kernel reads the schema from the package (the repository's graders/ is not in a lab): the same text."""
    from dflab.live.custody import SCHEMA_PATH
    from dflab.live.custody_schema import SCHEMA_TEXT

    assert SCHEMA_TEXT == SCHEMA_PATH.read_text(encoding="utf-8")


# -- the commands lab 01 names, in the trainee image and on the host ----------------------------------------------

# What lab 01's prepared cells run and its text tells a trainee to type in a terminal (ps, ss, strings): each must
# be there wherever the lab runs, in the trainee image (docker backend) and on a Debian 12 host (local backend).
LAB01_COMMANDS = ("bash", "cat", "readlink", "ls", "tr", "grep", "sha256sum", "ps", "ss", "strings")
SHELL_WORDS = {"for", "in", "done", "continue", "case", "esac", "fi", "echo"}  # the shell's own, not commands


def shell_commands(source: str) -> set[str]:
    """The first word of each command a cell runs in a shell: its ``!`` lines, or all of a ``%%bash`` cell."""
    lines = source.splitlines()
    script = lines[1:] if lines and lines[0].startswith("%%bash") else [ln[1:] for ln in lines if ln.startswith("!")]
    words = set()
    for line in script:
        for part in re.split(r"\||\$\(|;|\bdo\b|\bthen\b|\|\|", line.split("#", 1)[0]):
            tokens = [t for t in part.split() if "=" not in t]
            if tokens and re.fullmatch(r"[a-z][\w-]*", tokens[0]) and tokens[0] not in SHELL_WORDS:
                words.add(tokens[0])
    return words


@NOCODE
def test_every_command_lab_01_runs_is_one_the_lab_names() -> None:
    """A prepared cell that starts using another command must add it here, and so to the image checks below."""
    cells = nbformat.read(REPO / "labs" / LAB_ID / "source.ipynb", as_version=4).cells
    used = set().union(*(shell_commands(c.source) for c in cells if c.cell_type == "code"))
    assert used and used <= set(LAB01_COMMANDS), used - set(LAB01_COMMANDS)
    assert shell_commands("!tr '\\0' '\\n' < f | grep '^SSH_'\n!sha256sum a b") == {"tr", "grep", "sha256sum"}
    missing = [c for c in LAB01_COMMANDS if shutil.which(c) is None]
    assert not missing, f"not on this Debian host, where the local backend runs lab 01: {missing}"


# On the worker that builds the trainee image (its group): in this module's group it would prepare the image a second
# time on the other worker (the wheelhouse pass, the dflab wheel, a cached build), after waiting for the first.
@pytest.mark.xdist_group(name=XDIST_GROUP)
def test_the_trainee_image_has_every_command_lab_01_names(trainee_image: str,  # noqa: F811 -- the fixture
                                                           container_name: Callable[[], str]) -> None:  # noqa: F811
    proc = _run_confined(container_name(), trainee_image,
                         "for c in " + " ".join(LAB01_COMMANDS) + "; do command -v $c >/dev/null || echo missing $c; "
                         "done; ps -e -o comm= | head -n 1; ss -tln | head -n 1; strings --version | head -n 1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "missing" not in proc.stdout, proc.stdout
    first_process, ss_header, strings_version = proc.stdout.splitlines()
    assert first_process and ss_header.startswith("State") and strings_version.startswith("GNU strings")


@NOCODE
def test_the_order_form_saves_which_sources_in_what_order_and_refuses_an_answers_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the drop-downs hold is what the prepared cell receives: empty places skipped, a source picked twice kept at
    its first place, in place order (never re-sorted); saved beside the notebook and read back by a new form."""
    from dflab.lab.answers import AnswerError
    from dflab.lab.form import Field, InputForm, input_form, read_typed

    (tmp_path / "lab.yaml").write_text(for_trainees((REPO / "labs" / LAB_ID / "lab.yaml").read_text(encoding="utf-8"),
                                                    LAB_ID), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    spec = {plan.PLAN_FIELD: Field("order", {s: plan.SOURCES[s] for s in plan.VOLATILE_CHOICES})}
    namespace: dict[str, Any] = {}
    form = InputForm(LAB_ID, spec, tmp_path, namespace)
    assert namespace == {plan.PLAN_FIELD: []}  # defined before anything is chosen: the prepared cell runs, says so
    for slot, source in zip(form.fields[plan.PLAN_FIELD].slots, ["processes", "", "network_connections", "processes"],
                            strict=True):
        slot.value = source
    assert namespace[plan.PLAN_FIELD] == ["processes", "network_connections"]
    assert read_typed(tmp_path, LAB_ID)[plan.PLAN_FIELD] == "processes, network_connections"
    again: dict[str, Any] = {}
    InputForm(LAB_ID, spec, tmp_path, again)
    assert again == {plan.PLAN_FIELD: ["processes", "network_connections"]}
    with pytest.raises(AnswerError, match="'collection_order' is an answer of this lab"):
        input_form({"collection_order": Field("order")})
