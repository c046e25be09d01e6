"""`dflab hub config` without a hub: the rendered file, the access codes, bad input.

tests/test_hub.py runs the rendered config on a real JupyterHub; these checks are the cheap ones:
the file is deterministic and carries the confinement, the committed example is what the renderer
writes today, the authenticator lets each trainee in with their own code only, and bad input gives one
line. Run this module as a script to regenerate the committed example.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

from dflab.cli import main
from dflab.errors import DflabError
from dflab.hub.auth import AccessCodeAuthenticator, access_code
from dflab.hub.config import HubSettings, render_config, seed_script
from dflab.provision.trainee_container import LAB_LIMITS, Limits, MiB, hub_bytes
from dflab.roster import read_roster

REPO = Path(__file__).resolve().parents[1]
HUB_DIR = REPO / "environments" / "jupyterhub"


def example_settings() -> HubSettings:
    """What environments/jupyterhub/jupyterhub_config.py is rendered from (paths of the README's example)."""
    trainees = tuple(t.id for t in read_roster(HUB_DIR / "roster-example.csv"))
    return HubSettings(name="dflab", image="dflab/trainee", trainees=trainees,
                       evidence_root=Path("/srv/dflab/course/evidence"), state_dir=Path("/srv/dflab/hub"),
                       dashboard_session=Path("/srv/dflab/course"), instructors=("teacher",))


def settings(**changes: object) -> HubSettings:
    base = {"name": "room1", "image": "dflab/trainee:test", "trainees": ("bob", "alice"),
            "evidence_root": Path("/srv/course/evidence"), "state_dir": Path("/srv/hub")}
    return HubSettings(**{**base, **changes})  # type: ignore[arg-type]


def test_rendering_is_deterministic_and_valid_python() -> None:
    text = render_config(settings())
    assert text == render_config(settings(trainees=("alice", "bob")))  # roster order does not matter
    compile(text, "jupyterhub_config.py", "exec")
    assert text != render_config(settings(image="other/image"))


def test_rendered_config_carries_the_confinement() -> None:
    text = render_config(settings(limits=Limits(memory_bytes=768 * MiB, cpus=0.5, pids=128)))
    for needle in ('"cap_drop": ["ALL"]', '"security_opt": ["no-new-privileges"]', '"read_only": True',
                   '"user": "1000:1000"', 'c.DockerSpawner.mem_limit = \'768M\'', '"memswap_limit": \'768m\'',
                   'c.DockerSpawner.cpu_limit = 0.5', '"pids_limit": 128', 'c.DockerSpawner.pull_policy = "never"',
                   '"target": "/evidence",\n     "read_only": True', 'c.Authenticator.allowed_users = set(TRAINEES)',
                   'c.JupyterHub.bind_url = "http://127.0.0.1:8000"', "c.JupyterHub.admin_access = False",
                   "jupyterhub-singleuser --config=/etc/dflab/jupyter_config.py"):
        assert needle in text, needle
    assert "TRAINEES = [\n    'alice',\n    'bob',\n]" in text
    # No secret is ever rendered: they are files read when the hub starts.
    assert "read_secret(STATE / 'instructor-token')" in text and "api_token\": \"" not in text


def test_the_dashboard_is_a_managed_service_for_the_instructors_group_only() -> None:
    without = render_config(settings())
    assert "dflab-dashboard" not in without and "load_groups" not in without and "import sys" not in without
    text = render_config(settings(dashboard_session=Path("/srv/session"), instructors=("teacher", "tutor"),
                                  dashboard_port=8123))
    compile(text, "jupyterhub_config.py", "exec")
    for needle in ("DASHBOARD_SESSION = Path('/srv/session')", "INSTRUCTORS = [\n    'teacher',\n    'tutor',\n]",
                   'c.Authenticator.allowed_users = set(TRAINEES) | set(INSTRUCTORS)',
                   '"url": "http://127.0.0.1:8123"',
                   '"command": [sys.executable, "-m", "dflab.hub.dashboard", str(DASHBOARD_SESSION)]',
                   '"scopes": ["access:services!service=dflab-dashboard"]', '"groups": [\'dflab-instructors\']',
                   "c.JupyterHub.load_groups = {'dflab-instructors': {\"users\": INSTRUCTORS}}",
                   "c.Authenticator.admin_users = set()"):
        assert needle in text, needle


def test_committed_example_is_current() -> None:
    committed = (HUB_DIR / "jupyterhub_config.py").read_text(encoding="utf-8")
    assert committed == render_config(example_settings()), "regenerate: python -m tests.test_hub_config"


def test_kubernetes_values_match_the_docker_config() -> None:
    """The Zero-to-JupyterHub values (not runnable here) keep in step with what the Docker hub test runs."""
    values = yaml.safe_load((REPO / "environments" / "kubernetes" / "values.yaml").read_text(encoding="utf-8"))
    user = values["singleuser"]
    assert user["cmd"] == seed_script()
    assert user["uid"] == 1000 and user["allowPrivilegeEscalation"] is False
    assert user["extraPodConfig"]["securityContext"]["runAsNonRoot"] is True
    assert user["memory"]["limit"] == hub_bytes(LAB_LIMITS.memory) and user["cpu"]["limit"] == LAB_LIMITS.cpus
    assert user["networkPolicy"]["enabled"] is True and user["networkPolicy"]["egress"] == []
    assert not any(user["networkPolicy"]["egressAllowRules"].values())
    mounts = {m["mountPath"]: m for m in user["storage"]["extraVolumeMounts"]}
    assert mounts["/evidence"]["readOnly"] is True and "{unescaped_username}" in mounts["/evidence"]["subPath"]
    assert user["storage"]["homeMountPath"] == "/home/trainee/work"
    security = values["hub"]["extraConfig"]["dflab-confinement"]
    for needle in ('"capabilities": {"drop": ["ALL"]}', '"readOnlyRootFilesystem": True',
                   '"allowPrivilegeEscalation": False'):
        assert needle in security
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dflab.hub.auth.AccessCodeAuthenticator"


@pytest.mark.parametrize(("change", "where"), [
    ({"name": "Bad Name"}, "--name"),
    ({"trainees": ("ok", "Not-OK")}, "--roster"),
    ({"trainees": ()}, "--roster"),
    ({"evidence_root": Path("relative/evidence")}, "--evidence-root"),
    ({"limits": Limits(memory_bytes=MiB)}, "--memory"),
    ({"port": 8081}, "--port"),
    ({"dashboard_port": 8000}, "--port"),
    ({"instructors": ("teacher",)}, "--instructor"),  # instructors without a dashboard to open
    ({"dashboard_session": Path("/srv/session")}, "--dashboard"),  # a dashboard nobody may open
    ({"dashboard_session": Path("/srv/session"), "instructors": ("alice",)}, "--instructor"),  # a trainee
    ({"dashboard_session": Path("/srv/session"), "instructors": ("Bad Id",)}, "--instructor"),
    ({"dashboard_session": Path("session"), "instructors": ("teacher",)}, "--dashboard"),
])
def test_bad_settings_are_refused(change: dict[str, object], where: str) -> None:
    with pytest.raises(DflabError) as caught:
        settings(**change)
    assert caught.value.where == where


def test_each_code_opens_one_account(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("k" * 64)
    auth = AccessCodeAuthenticator(secret_file=str(secret_file), allowed_users={"alice", "bob"})
    code_a, code_b = access_code(b"k" * 64, "alice"), access_code(b"k" * 64, "bob")
    assert code_a != code_b and len(code_a) == 16

    def login(user: str, code: str) -> str | None:
        return asyncio.run(auth.authenticate(None, {"username": user, "password": code}))

    assert login("alice", code_a) == "alice"
    assert login("alice", code_a.upper()) == "alice"  # read out loud, typed in capitals: still theirs
    assert login("alice", code_b) is None
    assert login("mallory", access_code(b"k" * 64, "mallory")) is None
    assert login("bob", "") is None


def run_dflab(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """`dflab ARGS` in this process (the real entry point, its error handling included): (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["dflab", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


def test_bad_roster_line_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nalice,A\nalice,Again\n", encoding="utf-8")
    code, err = run_dflab(capsys, monkeypatch, "hub", "config", "--roster", str(roster), "--course", str(tmp_path),
                          "--lab", "02-disk", "--state-dir", str(tmp_path / "state"))
    assert code != 0
    assert err.strip().splitlines() == [
        f"dflab: error: {roster}:3: duplicate trainee id 'alice' (first on line 2)"]
    assert not (tmp_path / "state").exists()


def test_course_without_the_lab_or_evidence_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nalice\n", encoding="utf-8")
    (tmp_path / "course" / "release" / "02-disk").mkdir(parents=True)
    common = ("hub", "config", "--roster", str(roster), "--course", str(tmp_path / "course"),
              "--state-dir", str(tmp_path / "state"))
    code, err = run_dflab(capsys, monkeypatch, *common, "--lab", "03-memory")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "no released lab '03-memory'" in err
    code, err = run_dflab(capsys, monkeypatch, *common, "--lab", "02-disk")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "no evidence for trainee 'alice'" in err
    code, err = run_dflab(capsys, monkeypatch, *common, "--lab", "../source")
    assert code != 0 and err.strip() == "dflab: error: --lab: lab id '../source' must be a folder name like 02-disk"
    assert not (tmp_path / "state").exists()


def test_a_dashboard_that_is_not_a_session_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nalice\n", encoding="utf-8")
    (tmp_path / "course" / "release" / "02-disk").mkdir(parents=True)
    (tmp_path / "course" / "evidence" / "alice" / "evidence").mkdir(parents=True)
    (tmp_path / "course" / "evidence" / "alice" / "evidence" / "manifest.json").write_text("{}", encoding="utf-8")
    code, err = run_dflab(capsys, monkeypatch, "hub", "config", "--roster", str(roster), "--course",
                          str(tmp_path / "course"), "--lab", "02-disk", "--state-dir", str(tmp_path / "state"),
                          "--dashboard", str(tmp_path / "course"), "--instructor", "teacher")
    assert code != 0
    assert err.strip() == f"dflab: error: {tmp_path / 'course'}: no session here; start one with `dflab session start`"
    assert not (tmp_path / "state").exists()


if __name__ == "__main__":
    (HUB_DIR / "jupyterhub_config.py").write_text(render_config(example_settings()), encoding="utf-8")
