"""One trainee container for three consumers, on a real engine: a session's lab, a grading run, a hub's lab.

dflab/provision/trainee_container.py defines the container once. Here each consumer makes its container the
way it does in use (the docker backend's prepare + start, the docker sandbox's create, the hub's rendered
DockerSpawner settings handed to the engine as DockerSpawner hands them), the engine inspects it, and what it
holds is compared with what the definition says. The consumers differ only by the named variations.

Every check runs twice: with the definition as shipped and with a changed one (another spelling of
no-new-privileges, an explicit /tmp mode), swapped in for ``trainee_container.TRAINEE``. All three
containers follow the change, so none of them holds a copy.
"""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container
from jupyterhub.traitlets import ByteSpecification

from dflab.errors import DflabError
from dflab.grading.execute import SandboxedExecute
from dflab.grading.sandbox import base, local_sandbox
from dflab.grading.sandbox.docker_sandbox import DockerSandbox
from dflab.hub.config import HubSettings, render_config
from dflab.provision import docker_backend, trainee_container
from dflab.provision.base import TraineeEnv
from dflab.provision.docker_backend import RELAY_LIMITS, DockerBackend
from dflab.provision.trainee_container import (
    GRADING_LIMITS,
    LAB_LIMITS,
    TRAINEE_UID,
    Limits,
    TraineeContainer,
    docker_size,
    parse_memory,
)
from tests import docker_fixtures
from tests.test_session_docker import remove_everything

pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)

trainee_image = docker_fixtures.trainee_image

SHIPPED = trainee_container.TRAINEE
# Valid for the engine, different from the shipped definition, shared by all three consumers.
CHANGED = replace(SHIPPED, security_opt=("no-new-privileges:true",), tmp=replace(SHIPPED.tmp, mode="1777"))
CPU_PERIOD = 100_000  # DockerSpawner's default period for cpu_limit
SHARED = ("User", "CapDrop", "SecurityOpt", "ReadonlyRootfs", "Memory", "MemorySwap")


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@pytest.fixture(params=["shipped", "changed"])
def definition(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> TraineeContainer:
    """The definition every consumer reads when it makes a container: as shipped, or changed."""
    if request.param == "changed":
        monkeypatch.setattr(trainee_container, "TRAINEE", CHANGED)
    return trainee_container.TRAINEE


def view(attrs: dict[str, Any]) -> dict[str, Any]:
    """What the engine holds of a container's confinement."""
    host = attrs["HostConfig"]
    keys = ("CapDrop", "SecurityOpt", "ReadonlyRootfs", "NetworkMode", "Tmpfs", "Memory", "MemorySwap", "NanoCpus",
            "PidsLimit", "CpuQuota", "CpuPeriod")
    return {"User": attrs["Config"]["User"], **{k: host.get(k) for k in keys}}


def expected(container: TraineeContainer, limits: Limits) -> dict[str, Any]:
    """What the definition says the engine should hold (engine terms, from the definition's fields)."""
    return {"User": container.user, "CapDrop": list(container.cap_drop), "SecurityOpt": list(container.security_opt),
            "ReadonlyRootfs": container.read_only, "NetworkMode": container.network_mode,
            "Tmpfs": container.tmpfs(), "Memory": limits.memory_bytes, "MemorySwap": limits.memory_bytes,
            "NanoCpus": int(limits.cpus * 1e9), "PidsLimit": limits.pids, "CpuQuota": 0, "CpuPeriod": 0}


def tmpfs_sizes(tmpfs: dict[str, str]) -> dict[str, int]:
    """Mount point -> bytes, from the engine's tmpfs option texts."""
    return {path: parse_memory(next(o for o in opts.split(",") if o.startswith("size="))[5:])
            for path, opts in tmpfs.items()}


def check(found: dict[str, Any], container: TraineeContainer, limits: Limits) -> None:
    assert found == expected(container, limits)
    assert tmpfs_sizes(found["Tmpfs"]) == {p: parse_memory(t.size) for p, t in container.mounts().items()}


def mounted_tmpfs(container: Container) -> dict[str, set[str]]:
    """The tmpfs the kernel mounted in a running container: mount point -> options (/proc/mounts)."""
    result = container.exec_run(["cat", "/proc/mounts"])
    assert result.exit_code == 0, result.output
    fields = [line.split() for line in result.output.decode().splitlines()]
    return {f[1]: set(f[3].split(",")) for f in fields if f[2] == "tmpfs"}


@pytest.fixture
def lab(trainee_image: str, engine: docker.DockerClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, definition: TraineeContainer) -> Iterator[tuple[Container, Container]]:
    """A session's lab and relay, made by the docker backend (prepare + start), with its default limits."""
    monkeypatch.setenv("DFLAB_WORKSPACE_MIB", "0")  # no loop-mounted workspace: not what is compared here
    session_id = f"tc{secrets.token_hex(3)}"
    (tmp_path / "seed").mkdir()
    evidence = tmp_path / "session" / "evidence" / "alice" / "evidence"  # where a session builds it: checked so
    evidence.mkdir(parents=True)
    backend = DockerBackend(session_id, tmp_path / "session", tmp_path / "seed", trainee_image)
    env = TraineeEnv("alice", secrets.token_urlsafe(16), evidence)
    try:
        backend.prepare([env])
        backend.start(env)
        yield engine.containers.get(backend.container_name("alice")), engine.containers.get(backend.relay_name)
    finally:
        remove_everything(engine, session_id)  # the session's containers, volume and network


@pytest.fixture
def grading(trainee_image: str, engine: docker.DockerClient, tmp_path: Path,
            definition: TraineeContainer) -> Iterator[Container]:
    """A grading run's container, created by the docker sandbox with the grading code's default limits."""
    for name in ("work", "run", "graded-evidence"):
        (tmp_path / name).mkdir()
    container = DockerSandbox(trainee_image, engine)._create(tmp_path / "work", tmp_path / "run",
                                                             tmp_path / "graded-evidence", SandboxedExecute().limits)
    try:
        yield container
    finally:
        container.remove(force=True)


def hub_settings(text: str) -> dict[str, Any]:
    """The DockerSpawner settings a rendered jupyterhub_config.py assigns (its literal values)."""
    assigned = {ast.unparse(node.targets[0]): node.value for node in ast.parse(text).body
                if isinstance(node, ast.Assign)}
    create = assigned["c.DockerSpawner.extra_create_kwargs"]
    assert isinstance(create, ast.Dict)
    return {
        "user": next(ast.literal_eval(v) for k, v in zip(create.keys, create.values, strict=True)
                     if k is not None and ast.literal_eval(k) == "user"),
        **{name: ast.literal_eval(assigned[f"c.DockerSpawner.{name}"])
           for name in ("mem_limit", "cpu_limit", "extra_host_config")},
        "network_name": ast.unparse(assigned["c.DockerSpawner.network_name"]),
    }


@pytest.fixture
def hub(trainee_image: str, engine: docker.DockerClient, definition: TraineeContainer) -> Iterator[Container]:
    """A hub's lab: the rendered config's settings, handed to the engine as DockerSpawner does (create only)."""
    text = render_config(HubSettings(name="tc", image=trainee_image, trainees=("alice",),
                                     evidence_root=Path("/srv/course/evidence"), state_dir=Path("/srv/hub")))
    spawner = hub_settings(text)
    # The hub's labs join its internal network, never network_mode=none (dflab/hub/config.py says why).
    assert "network_mode" not in spawner["extra_host_config"] and spawner["network_name"] == "NETWORK"
    # DockerSpawner: mem_limit through JupyterHub's ByteSpecification, cpu_limit as a quota per 100 ms.
    host = engine.api.create_host_config(mem_limit=ByteSpecification().validate(None, spawner["mem_limit"]),
                                         cpu_period=CPU_PERIOD, cpu_quota=int(spawner["cpu_limit"] * CPU_PERIOD),
                                         **spawner["extra_host_config"])
    created = engine.api.create_container(trainee_image, ["true"], user=spawner["user"], host_config=host,
                                          labels={"dflab.test": "trainee-container"})
    container = engine.containers.get(created["Id"])
    try:
        yield container
    finally:
        container.remove(force=True)


def test_three_consumers_make_the_container_the_definition_says(
        definition: TraineeContainer, lab: tuple[Container, Container], grading: Container, hub: Container) -> None:
    lab_container, relay = lab
    made = {"lab": view(lab_container.attrs), "grading": view(grading.attrs), "hub": view(hub.attrs)}

    check(made["lab"], definition, LAB_LIMITS)
    check(made["grading"], definition.for_grading(), GRADING_LIMITS)
    hub_expected = {**expected(definition.for_hub(), LAB_LIMITS), "NanoCpus": 0,
                    "CpuQuota": int(LAB_LIMITS.cpus * CPU_PERIOD), "CpuPeriod": CPU_PERIOD}
    assert {k: v for k, v in made["hub"].items() if k != "NetworkMode"} == {
        k: v for k, v in hub_expected.items() if k != "NetworkMode"}

    # The same values everywhere but for the named variations.
    for key in SHARED:
        assert made["lab"][key] == made["grading"][key] == made["hub"][key], key
    assert {k for k in made["lab"] if made["lab"][k] != made["grading"][k]} == {"Tmpfs", "PidsLimit"}
    assert {k for k in made["lab"] if made["lab"][k] != made["hub"][k]} == {"Tmpfs", "NetworkMode", "NanoCpus",
                                                                           "CpuQuota", "CpuPeriod"}
    assert set(made["lab"]["Tmpfs"]) - set(made["hub"]["Tmpfs"]) == {"/home/trainee/.cache"}
    assert made["hub"]["Tmpfs"] == {p: o for p, o in made["lab"]["Tmpfs"].items() if p in made["hub"]["Tmpfs"]}

    # The changed definition reached every consumer.
    changed = definition == CHANGED
    for found in made.values():
        assert (found["SecurityOpt"] == ["no-new-privileges:true"]) is changed
        assert found["Tmpfs"]["/tmp"].endswith(",mode=1777") is changed

    # The session's relay: the same identity, its own network and limits, no tmpfs.
    relay_view = view(relay.attrs)
    assert {k: relay_view[k] for k in ("User", "CapDrop", "SecurityOpt", "ReadonlyRootfs")} == {
        k: made["lab"][k] for k in ("User", "CapDrop", "SecurityOpt", "ReadonlyRootfs")}
    assert relay_view["NetworkMode"] != "none" and not relay_view["Tmpfs"]
    assert (relay_view["Memory"], relay_view["NanoCpus"], relay_view["PidsLimit"]) == (
        RELAY_LIMITS.memory_bytes, int(RELAY_LIMITS.cpus * 1e9), RELAY_LIMITS.pids)

    # What the kernel mounted in the running lab: each tmpfs with its size, exec only where the definition says.
    mounted = mounted_tmpfs(lab_container)
    for path, tmpfs in definition.mounts().items():
        options = mounted[path]
        assert f"size={parse_memory(tmpfs.size) // 1024}k" in options, (path, options)
        assert {"nosuid", "nodev"} <= options and ("noexec" in options) is not tmpfs.exec, (path, options)
        assert (f"uid={TRAINEE_UID}" in options) is tmpfs.owned, (path, options)


def test_there_is_one_limits() -> None:
    for module in (docker_backend, base, local_sandbox):
        assert module.Limits is Limits, module.__name__
    assert SandboxedExecute().limits == GRADING_LIMITS == Limits()
    assert HubSettings(name="x", image="i", trainees=("a",), evidence_root=Path("/e"),
                       state_dir=Path("/s")).limits == LAB_LIMITS
    # The named variations: a lab runs more processes and has no wall clock; the relay is small.
    differ = {f.name for f in fields(Limits) if getattr(LAB_LIMITS, f.name) != getattr(GRADING_LIMITS, f.name)}
    assert differ == {"pids", "wall_s"}
    with pytest.raises(DflabError, match="wall-clock"):
        base.runner_args(LAB_LIMITS)  # a lab's limits never drive a grading run unbounded
    assert RELAY_LIMITS.memory == "128m"


@pytest.mark.parametrize(("text", "size"), [("1g", 1 << 30), ("768M", 768 << 20), ("64k", 64 << 10),
                                            ("1048577", 1048577)])
def test_memory_text_round_trips(text: str, size: int) -> None:
    assert parse_memory(text) == size
    assert parse_memory(docker_size(size)) == size


@pytest.mark.parametrize("text", ["lots", "0", "1.5g", "-1g", "1t", ""])
def test_bad_memory_text_is_one_line(text: str) -> None:
    with pytest.raises(DflabError) as caught:
        parse_memory(text)
    assert caught.value.where == "--memory" and "\n" not in str(caught.value)


def test_renderings_carry_the_same_values() -> None:
    """Without an engine: docker-py keywords and DockerSpawner settings from the one definition."""
    lab = SHIPPED.docker_kwargs(LAB_LIMITS)
    spawner = SHIPPED.for_hub().spawner_settings(LAB_LIMITS)
    host = spawner["extra_host_config"]
    for key in ("cap_drop", "security_opt", "read_only", "pids_limit"):
        assert lab[key] == host[key], key
    assert lab["user"] == spawner["extra_create_kwargs"]["user"] == f"{TRAINEE_UID}:{TRAINEE_UID}"
    assert ByteSpecification().validate(None, spawner["mem_limit"]) == parse_memory(host["memswap_limit"]) \
        == lab["mem_limit"] == lab["memswap_limit"]
    assert lab["tmpfs"]["/tmp"] == "rw,nosuid,nodev,size=512m"  # noqa: S108
    assert lab["tmpfs"]["/home/trainee/.cache"].startswith("rw,exec,")
