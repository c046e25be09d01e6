"""The per-trainee traits of the live-response suspect, computed from the seed alone.

Everything the lab asks trainees to find (names, ports, addresses, the beacon, the deleted file's
content, the executable's bytes and hash) is a pure function of the trainee's variant seed, so the
grader recomputes the expected answers without starting anything and without trusting a file in the
trainee's environment.  So is the key of the suspect's live witness (:mod:`dflab.live.witness`), with
which the grader checks that a collection was sealed by the running suspect.  Each value comes from its
own RNG stream (``rng(seed, "live", name)``), so adding a trait later does not change the others.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from dflab.live import witness
from dflab.live.elf import HELD_FD, sink_program, suspect_program
from dflab.scenario.draw import DEMO_SECRET, rng, variant_seed

# Names a busy Linux desktop could plausibly run (at most 15 characters: the kernel's comm length).
SUSPECT_NAMES = ("kworker-upd", "dbus-sessiond", "gvfsd-cache", "at-spi-helper", "tracker-minerd",
                 "pulse-helper", "snapd-agent", "update-notifyd", "xdg-syncd", "evolution-synd")
SINK_NAMES = ("cupsd-proxy", "avahi-relay", "colord-sync", "geoclue-agent")
BEACON_INTERVAL_S = 2
LISTEN_IP = "127.0.0.1"
_PORTS = (10000, 32000)   # below Linux's ephemeral range (32768-60999): never a client's source port


@dataclass(frozen=True)
class Traits:
    """What one trainee's suspect looks like; :meth:`as_dict` is what the grader compares with."""

    exe_name: str
    sink_name: str
    listen_ip: str
    listen_port: int
    sink_ip: str
    sink_port: int
    beacon: bytes
    held_name: str
    held_content: bytes
    ssh_remote_ip: str
    ssh_remote_port: int
    ssh_local_ip: str
    ssh_tty: str
    witness_key: bytes   # handed to the running suspect through a pipe; never in its executable or environment

    @property
    def exe_bytes(self) -> bytes:
        return suspect_program(self.beacon, BEACON_INTERVAL_S, witness.SLOT_S, len(witness.VARIABLE) + 1)

    @property
    def ssh_connection(self) -> str:
        """The value sshd puts in SSH_CONNECTION: client ip, client port, server ip, server port."""
        return f"{self.ssh_remote_ip} {self.ssh_remote_port} {self.ssh_local_ip} 22"

    def as_dict(self) -> dict[str, Any]:
        exe = self.exe_bytes
        return {
            "exe_name": self.exe_name,
            "exe_sha256": hashlib.sha256(exe).hexdigest(),
            "exe_size": len(exe),
            "sink_name": self.sink_name,
            "sink_exe_sha256": hashlib.sha256(sink_program()).hexdigest(),
            "listener": {"ip": self.listen_ip, "port": self.listen_port},
            "sink": {"ip": self.sink_ip, "port": self.sink_port},
            "beacon": self.beacon.decode(),
            "beacon_interval_s": BEACON_INTERVAL_S,
            "held_file": {"name": self.held_name, "fd": HELD_FD,
                          "sha256": hashlib.sha256(self.held_content).hexdigest(),
                          "size": len(self.held_content)},
            "user_trace": {"ssh_connection": self.ssh_connection, "remote_ip": self.ssh_remote_ip,
                           "remote_port": self.ssh_remote_port, "tty": self.ssh_tty},
            # Not an answer: what the grader needs to check the seals of a collection (dflab.live.witness).
            "witness": {"key": self.witness_key.hex(), "slot_s": witness.SLOT_S, "variable": witness.VARIABLE},
        }


LIVE_SCENARIO_ID = "01-live-response"


def suspect_seed(trainee_id: str, course_secret: str | None = None) -> bytes:
    """The trainee's seed for lab 01: keyed like the evidence variants, but under its own scenario id.

    The seed must reach the trainee's environment to start the suspect there, and anyone holding it can
    compute the expected traits; a separate id keeps it from revealing the evidence seed of labs 02-05.
    """
    return variant_seed(course_secret or DEMO_SECRET, LIVE_SCENARIO_ID, trainee_id)


def traits(seed: bytes) -> Traits:
    """Draw every trait of the suspect from ``seed``."""
    def r(name: str) -> random.Random:
        return rng(seed, "live", name)

    listen_port = r("listen_port").randint(*_PORTS)
    sink_port = r("sink_port").randint(*_PORTS)
    if sink_port == listen_port:
        sink_port = _PORTS[0] + (sink_port - _PORTS[0] + 1) % (_PORTS[1] - _PORTS[0])
    ip = r("sink_ip")
    token = _hex(r("token"), 16)
    held_hex = _hex(r("held_name"), 8)
    quarter = r("quarter").choice(("q1", "q2", "q3", "q4"))
    held_content = (
        "# staged for upload - do not remove\n"
        f"batch={token}\n"
        f"finance/reports/{quarter}_ledger.xlsx\n"
        f"finance/reports/{quarter}_payroll.csv\n"
        "finance/contracts/vendor_master.pdf\n"
    ).encode()
    ssh = r("ssh")
    return Traits(
        exe_name=r("exe_name").choice(SUSPECT_NAMES),
        sink_name=r("sink_name").choice(SINK_NAMES),
        listen_ip=LISTEN_IP,
        listen_port=listen_port,
        sink_ip=f"127.{ip.randint(1, 254)}.{ip.randint(0, 255)}.{ip.randint(1, 254)}",
        sink_port=sink_port,
        beacon=f"HELO {token} ready\n".encode(),
        held_name=f".{held_hex}.staging",
        held_content=held_content,
        ssh_remote_ip=f"203.0.113.{ssh.randint(10, 250)}",     # TEST-NET-3 (RFC 5737): never routable
        ssh_remote_port=ssh.randint(40000, 60999),
        ssh_local_ip=f"10.{ssh.randint(0, 255)}.{ssh.randint(0, 255)}.{ssh.randint(2, 250)}",
        ssh_tty=f"/dev/pts/{ssh.randint(1, 9)}",
        witness_key=witness.slot_key(seed),
    )


def _hex(stream: random.Random, n: int) -> str:
    return "".join(stream.choice("0123456789abcdef") for _ in range(n))


def expected_traits(seed: bytes) -> dict[str, Any]:
    """The answers lab 01 is graded against, as plain JSON data; starts nothing."""
    return traits(seed).as_dict()
