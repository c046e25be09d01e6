"""Per-trainee seeds and the values drawn from them.

The variant seed is a keyed hash of (course secret, scenario, trainee): the
same three inputs always give the same evidence, trainees cannot derive each
other's seeds without the secret, and different trainees get different
answers.  Every drawn value uses its own RNG stream keyed by its name, so
adding a variable to a spec does not change the values of the others.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from dflab.scenario.spec import check_draw, parse_iso

SEED_CONTEXT = b"dflab-variant-v1"
DEMO_SECRET = "dflab-demo-course-secret"


def variant_seed(course_secret: str, scenario_id: str, trainee_id: str) -> bytes:
    """HMAC-SHA256(secret, context | scenario | trainee): the 32-byte seed of one trainee's variant."""
    msg = b"\0".join((SEED_CONTEXT, scenario_id.encode(), trainee_id.encode()))
    return hmac.new(course_secret.encode(), msg, hashlib.sha256).digest()


def rng(seed: bytes, *labels: str) -> random.Random:
    """An independent, reproducible RNG stream for ``labels`` under ``seed``.

    ``random.Random(int)`` is specified to give the same sequence on every
    platform and Python version for the integer methods we use.
    """
    h = hashlib.sha256(seed + b"\0" + "\0".join(labels).encode()).digest()
    return random.Random(int.from_bytes(h, "big"))


def number(seed: str, what: str, below: int) -> int:
    """A number in 0 .. below-1 for ``what`` under a case's seed written as text (a Windows case carries its variant
    seed as hex): the first 8 bytes of SHA-256(seed NUL what), so it needs no RNG object and is the same on every
    machine and Python version. The Windows workstation's identities (SIDs, serials, pids, logon ids) are these."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{what}".encode()).digest()[:8], "big") % below


def stream(seed: str, what: str, size: int) -> bytes:
    """``size`` bytes for ``what`` under a case's seed written as text: SHAKE-256(seed NUL what), one call however
    long (a file's content that is its own and reproducible)."""
    return hashlib.shake_256(f"{seed}\0{what}".encode()).digest(size)


def draw(spec: Any, seed: bytes, name: str) -> Any:
    """Draw one value.  Literals pass through; a single-key mapping names the distribution.

    The draw's shape and ranges are checked by :func:`dflab.scenario.spec.check_draw` (when the spec is loaded,
    with its file and line, and again here); raises ValueError with a message naming the draw.
    """
    if not isinstance(spec, dict):
        return spec
    check_draw(spec)
    (kind, arg), = spec.items()
    r = rng(seed, "draw", name)
    if kind == "choice":
        return arg[r.randrange(len(arg))]
    if kind == "int":
        return r.randint(int(arg[0]), int(arg[1]))
    if kind == "ip_in":
        net = ipaddress.ip_network(str(arg), strict=False)
        # Skip network, broadcast and the low addresses kept for gateways and resolvers.
        return str(net.network_address + r.randint(10, net.num_addresses - 2))
    if kind == "time_between":
        lo, hi = (parse_iso(str(t)) for t in arg)
        span = int((hi - lo).total_seconds())
        return (lo + timedelta(seconds=r.randint(0, span))).isoformat()
    if kind == "hex":
        return "".join(r.choice("0123456789abcdef") for _ in range(int(arg)))
    alphabet = string.ascii_letters + string.digits + "!#%&*+-=?@"  # password
    return "".join(r.choice(alphabet) for _ in range(int(arg)))


def epoch(iso: str) -> int:
    """ISO-8601 with zone → integer epoch seconds."""
    return int(parse_iso(iso).timestamp())


def iso(ts: float) -> str:
    """Epoch seconds → ISO-8601 UTC with a Z (what the answer key and labs show)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
