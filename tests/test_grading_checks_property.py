"""Property tests of every compare kind: generated junk never passes, generated right forms always pass.

A submission is hostile: its recorded answers are any JSON value the trainee's kernel (or a forged output) can
hold, including NaN and infinities (Python's json reads them), huge integers and strings, nested containers and
lone surrogates.  Every check must give a verdict on each, pass none of them, and never show the expected value.
The right forms are those graders/README.md lists, generated with random case, padding, zones and order.
"""

from __future__ import annotations

import math
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dflab.grading.checks import COMPARES, TERMS, Check, CheckFile, check_answer
from dflab.lab_hooks import hooks_at
from dflab.lab_meta import REPO

SHA = "04da0f0ff296d885f7497ac72d77777682aedefca5a9077f1d09d227496da65e"
EPOCH = 1772440653  # 2026-03-02T08:37:33Z
TIMELINE = [{"id": "login", "time": "2026-03-02T08:30:00Z"}, {"id": "download", "time": "2026-03-02T08:37:33Z"},
            {"id": "exfil", "time": "2026-03-02T08:51:10Z"}]
MANIFEST = [{"path": "disk.img", "sha256": "a" * 64, "size": 1}, {"path": "memory.lime", "sha256": "b" * 64, "size": 1}]
KEY = {"evidence_items": MANIFEST, "timeline": TIMELINE,
       "answers": {"payload_sha256": SHA, "implant_pid": 2345, "c2_ip": "203.0.113.7"}}
FINDINGS = {"disk.*": {"answers.payload_sha256": "hex"}, "memory.*": {"answers.implant_pid": "int",
                                                                      "answers.c2_ip": "ip"}}

# compare kind -> (check, key value); the key values are the kinds' typical ones, none of them 0, 1 or empty.
CHECKS: dict[str, tuple[Check, Any]] = {
    "exact": (Check(compare="exact"), "DRAFT wire\ntransfer 404bdae4fa"),
    "casefold": (Check(compare="casefold", vocabulary="file_type"), "zip"),
    "hex": (Check(compare="hex"), SHA),
    "int": (Check(compare="int"), 2345),
    "float": (Check(compare="float", tolerance=0.5), 12.25),
    "set": (Check(compare="set"), ["/home/u/a", "/home/u/b"]),
    "time": (Check(compare="time", tolerance_s=2), "2026-03-02T08:37:33Z"),
    "path": (Check(compare="path"), "/home/u/Downloads/x"),
    "ip": (Check(compare="ip"), "203.0.113.7"),
    "domain": (Check(compare="domain"), "share.example.net"),
    "address": (Check(compare="address"), "0x7f00263cc000"),
    "citations": (Check(compare="citations", require=("disk.img", "memory.lime")), MANIFEST),
    "citations+findings": (Check(compare="citations", key="evidence_items", require=("disk.img", "memory.lime"),
                                 findings=FINDINGS), MANIFEST),
    "timeline": (Check(compare="timeline", tolerance_s=2, require=("download", "exfil")), TIMELINE),
}
LIVE = Check(compare="live_collection", criterion="order")  # lab 01's own kind (its hooks' COMPARES)
LIVE_HOOKS = hooks_at(REPO / "labs" / "01-live" / "hooks.py")
UNTIMED = settings(deadline=None)  # no timing assertions: the machine is shared


def verdict(kind: str, got: Any) -> tuple[bool, str]:
    """What the grader says of ``got`` for ``kind``, through check_answer as the preprocessor calls it."""
    check, want = CHECKS[kind]
    checks = CheckFile(lab="p", checks={"a": check.model_copy(update={"key": check.key or "value"})})
    return check_answer(checks, "a", got, {**KEY, "value": want}, "key")


def hidden(reason: str, want: Any) -> bool:
    """The reason shows no scalar of the key value (the hashes, times, numbers, names the key holds)."""
    leaves = [want] if not isinstance(want, (list, dict)) else [
        v for item in want for v in (item.values() if isinstance(item, dict) else [item])]
    secrets = [str(v) for v in leaves if len(str(v)) > 4 and str(v) not in ("disk.img", "memory.lime", "login",
                                                                            "download", "exfil")]
    return not any(s.casefold() in reason.casefold() for s in secrets)


# -- junk: values no compare kind may accept --------------------------------------------------------------------

NON_FINITE = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf])
HUGE_INT = (st.integers(min_value=10 ** 40) | st.integers(max_value=-10 ** 40)
            | st.integers(4300, 6000).map(lambda n: 7 * 10 ** n))  # str() of these raises in Python 3.11
HUGE_TEXT = st.builds(lambda unit, n: unit * n, st.sampled_from(["9", "f", "0", " ", "/", "a.", "zip", "0x0", "::"]),
                      st.integers(min_value=4097, max_value=30_000))
BYTES_LIKE = (st.binary(max_size=48).map(repr)                                           # "b'\\x89PNG...'"
              | st.binary(max_size=48).map(lambda b: "\x00" + b.decode("latin-1"))      # raw bytes as text
              | st.text(max_size=16).map(lambda t: "\ud800" + t))                       # a lone surrogate
SCALAR_JUNK = NON_FINITE | st.booleans() | st.none() | HUGE_INT | HUGE_TEXT | BYTES_LIKE
JUNK = st.recursive(SCALAR_JUNK, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(CHECKS)), junk=JUNK)
def test_junk_never_passes_and_never_shows_the_value(kind: str, junk: Any) -> None:
    ok, reason = verdict(kind, junk)
    assert not ok and reason != "correct"
    assert hidden(reason, CHECKS[kind][1]) and len(reason) < 2000


@pytest.fixture(scope="module")
def submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty submitted assignment folder: no junk name can be a handed-in case directory in it."""
    return tmp_path_factory.mktemp("submission")


@settings(max_examples=200, deadline=None)
@given(junk=JUNK | st.text(alphabet=st.characters(blacklist_characters="./"), min_size=1, max_size=300))
def test_live_collection_refuses_junk_without_raising(submission: Path, junk: Any) -> None:
    """No junk names the (empty) submission folder itself: ``.``, ``x/..`` would, and are graded elsewhere."""
    checks = CheckFile(lab="01-live", checks={"collection_order": LIVE.model_copy(update={"key": "facts.live"})}
                       ).with_lab_compares(LIVE_HOOKS.compares, "labs/01-live/hooks.py")
    ok, _ = check_answer(checks, "collection_order", junk, {"facts": {"live": {}}}, "key", submission)
    assert not ok


TIME_JUNK = NON_FINITE | st.booleans() | st.none() | HUGE_INT | HUGE_TEXT | BYTES_LIKE | st.lists(st.integers())


@settings(max_examples=300, deadline=None)
@given(times=st.lists(TIME_JUNK, min_size=1, max_size=3), which=st.integers(0, 2), steps=st.permutations(
    [e["id"] for e in TIMELINE]))
def test_a_timeline_with_any_junk_time_never_passes(times: list, which: int, steps: list) -> None:
    """The issue's case: NaN times scored full (``abs(nan - t) > tol`` is False, and NaNs pass any sort check)."""
    right = [[e["id"], e["time"]] for e in TIMELINE]
    right[which][1] = times[0]
    for rows in (right, [[step, t] for step, t in zip(steps, times, strict=False)], [[s, times[0]] for s in steps]):
        ok, reason = verdict("timeline", rows)
        assert not ok and hidden(reason, [e["time"] for e in TIMELINE])


@settings(max_examples=300, deadline=None)
@given(junk=SCALAR_JUNK | st.integers(min_value=-10 ** 6, max_value=10 ** 6).filter(lambda n: n != 2345),
       row=st.integers(0, 1))
def test_a_citation_with_a_junk_fact_never_passes(junk: Any, row: int) -> None:
    rows = [["disk.img", "a" * 64, SHA], ["memory.lime", "b" * 64, 2345]]
    rows[row][2] = junk
    if junk is None:
        return  # a row may state no fact; the other row's is still right but the item is left without one
    ok, reason = verdict("citations+findings", rows)
    assert not ok and hidden(reason, [SHA, 2345, "203.0.113.7"])


@settings(max_examples=300, deadline=None)
@given(got=st.floats(allow_nan=True, allow_infinity=True) | st.integers() | HUGE_INT)
def test_float_passes_exactly_when_finite_and_within_tolerance(got: float) -> None:
    check, want = CHECKS["float"]
    try:
        within = math.isfinite(float(got)) and abs(float(got) - want) <= check.tolerance
    except OverflowError:
        within = False
    assert verdict("float", got)[0] is within


@settings(max_examples=300, deadline=None)
@given(got=st.floats(allow_nan=True, allow_infinity=True) | st.integers() | HUGE_INT)
def test_epoch_time_passes_exactly_when_finite_and_within_tolerance(got: float) -> None:
    try:
        within = math.isfinite(float(got)) and abs(float(got) - EPOCH) <= 2
    except OverflowError:
        within = False
    assert verdict("time", got)[0] is within


DECIMAL_TEXT = st.from_regex(r"\s*[+-]?0{0,40}2345\s*|\s*[+-]?[0-9_]{1,6}\s*", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(got=st.integers() | st.floats(allow_nan=True) | st.booleans() | DECIMAL_TEXT | st.text(max_size=8))
def test_int_passes_exactly_for_the_number(got: Any) -> None:
    """The spec, not the code: 2345 as an int, an equal float, or decimal text (an optional +, leading zeros,
    at most 32 digits, surrounding whitespace); never a bool."""
    if isinstance(got, str):
        digits = got.strip().removeprefix("+")
        right = bool(re.fullmatch(r"0*2345", digits)) and len(digits) <= 32
    else:
        right = not isinstance(got, bool) and got == 2345
    assert verdict("int", got)[0] is right


# -- right forms: every documented one passes ------------------------------------------------------------------

def flip_case(text: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips + [False] * len(text), strict=False))


SPACE = st.text(alphabet=" \t\n\r", max_size=3)
FLIPS = st.lists(st.booleans(), max_size=80)


@UNTIMED
@given(line_end=st.sampled_from(["\n", "\r\n", "\r"]), before=st.text(alphabet=" \t", max_size=3), after=SPACE)
def test_exact_text_passes_with_any_line_ends_and_trailing_whitespace(line_end: str, before: str, after: str) -> None:
    want = CHECKS["exact"][1]
    assert verdict("exact", before + want.replace("\n", line_end) + after) == (True, "correct")


SYNONYMS = [(vocab, canonical, name) for vocab, table in TERMS.items() for canonical, names in table.items()
            for name in (canonical, *names)]


@UNTIMED
@given(entry=st.sampled_from(SYNONYMS), flips=FLIPS, gaps=st.lists(st.sampled_from([" ", "  ", "\t"]), max_size=20),
       details=st.text(alphabet=string.ascii_letters + string.digits + " ,=()-.", max_size=30),
       mime_parameters=st.booleans(), pad=SPACE)
def test_every_synonym_passes_in_any_case_and_spacing(entry: tuple, flips: list, gaps: list, details: str,
                                                     mime_parameters: bool, pad: str) -> None:
    vocab, canonical, name = entry
    written = name.replace("*", details.strip() or "x")
    words = written.split(" ")
    written = "".join(w + (gaps[i] if i < len(gaps) else " ") for i, w in enumerate(words)).rstrip()
    if mime_parameters and "/" in name and " " not in name:
        written += "; charset=binary"
    check = Check(compare="casefold", vocabulary=vocab)
    assert COMPARES["casefold"](pad + flip_case(written, flips) + pad, canonical, check) == (True, "correct")


@UNTIMED
@given(flips=FLIPS, cut=st.lists(st.integers(1, 63), max_size=6), prefix=st.sampled_from(["", "0x", "0X"]),
       pad=SPACE)
def test_a_digest_passes_in_any_case_grouping_and_prefix(flips: list, cut: list, prefix: str, pad: str) -> None:
    text = flip_case(SHA, flips)
    for at in sorted(set(cut), reverse=True):
        text = text[:at] + " " + text[at:]
    assert verdict("hex", pad + prefix + text + pad) == (True, "correct")


@UNTIMED
@given(zeros=st.integers(0, 20), flips=FLIPS, prefix=st.sampled_from(["", "0x", "0X"]), as_number=st.booleans())
def test_an_address_passes_padded_in_any_case_or_as_a_number(zeros: int, flips: list, prefix: str,
                                                               as_number: bool) -> None:
    digits = CHECKS["address"][1].removeprefix("0x")
    got: Any = int(digits, 16) if as_number else prefix + flip_case("0" * zeros + digits, flips)
    assert verdict("address", got) == (True, "correct")


@UNTIMED
@given(form=st.sampled_from(["int", "float", "text"]), zeros=st.integers(0, 10), sign=st.sampled_from(["", "+"]),
       pad=SPACE)
def test_an_integer_passes_as_int_integral_float_or_decimal_text(form: str, zeros: int, sign: str, pad: str) -> None:
    got: Any = {"int": 2345, "float": 2345.0, "text": f"{pad}{sign}{'0' * zeros}2345{pad}"}[form]
    assert verdict("int", got) == (True, "correct")


@UNTIMED
@given(delta=st.floats(min_value=-0.5, max_value=0.5) | st.just(-0.25))  # 12.0: an int
def test_a_number_within_tolerance_passes(delta: float) -> None:
    got = 12.25 + delta
    assert verdict("float", int(got) if got.is_integer() else got) == (True, "correct")


@UNTIMED
@given(members=st.permutations(CHECKS["set"][1]), flips=FLIPS, pad=SPACE, repeat=st.booleans())
def test_a_set_passes_in_any_order_case_and_padding(members: list, flips: list, pad: str, repeat: bool) -> None:
    got = [pad + flip_case(m, flips) + pad for m in members] + members[:1] * repeat
    assert verdict("set", got) == (True, "correct")


ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def iso(instant: float, zone: timezone, style: int) -> Any:
    """``instant`` written as a trainee might: ISO in a zone (Z, offset, space, lower case) or epoch seconds."""
    when = datetime.fromtimestamp(instant, tz=zone)
    return [when.isoformat(), when.isoformat(sep=" "), when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            when.astimezone(UTC).isoformat().replace("+00:00", "z").lower(), instant, round(instant)][style]


@UNTIMED
@given(ms=st.integers(-2000, 2000), zone=ZONES, style=st.integers(0, 5))
def test_a_time_within_tolerance_passes_in_any_zone_and_form(ms: int, zone: timezone, style: int) -> None:
    got = iso(EPOCH + ms / 1000, zone, style)
    if style == 5 and abs(round(EPOCH + ms / 1000) - EPOCH) > 2:
        return  # rounding to whole seconds can leave the tolerance: not a form of *this* instant
    assert verdict("time", got) == (True, "correct")


@UNTIMED
@given(slashes=st.lists(st.integers(1, 3), min_size=4, max_size=4), dots=st.lists(st.booleans(), min_size=4,
       max_size=4), trailing=st.booleans(), pad=SPACE)
def test_a_path_passes_with_repeated_slashes_dot_segments_and_a_trailing_slash(slashes: list, dots: list,
                                                                               trailing: bool, pad: str) -> None:
    parts = CHECKS["path"][1].strip("/").split("/")
    text = "".join("/" * n + ("./" if d else "") + p for n, d, p in zip(slashes, dots, parts, strict=True))
    assert verdict("path", pad + text + "/" * trailing + pad) == (True, "correct")


@UNTIMED
@given(form=st.sampled_from(["dotted", "mapped", "mapped-hex", "mapped-expanded"]), flips=FLIPS, pad=SPACE)
def test_an_ipv4_address_passes_as_itself_or_ipv4_mapped(form: str, flips: list, pad: str) -> None:
    got = {"dotted": "203.0.113.7", "mapped": "::ffff:203.0.113.7", "mapped-hex": "::ffff:cb00:7107",
           "mapped-expanded": "0000:0000:0000:0000:0000:ffff:cb00:7107"}[form]
    assert verdict("ip", pad + flip_case(got, flips) + pad) == (True, "correct")


@UNTIMED
@given(address=st.ip_addresses(v=6), expanded=st.booleans(), flips=FLIPS)
def test_an_ipv6_address_passes_compressed_or_expanded_in_any_case(address: Any, expanded: bool, flips: list) -> None:
    text = address.exploded if expanded else address.compressed
    got = flip_case(text, flips)
    assert COMPARES["ip"](got, address.compressed, Check(compare="ip")) == (True, "correct")


@UNTIMED
@given(flips=FLIPS, dot=st.booleans(), pad=SPACE)
def test_a_dns_name_passes_in_any_case_with_or_without_the_root_dot(flips: list, dot: bool, pad: str) -> None:
    assert verdict("domain", pad + flip_case(CHECKS["domain"][1], flips) + "." * dot + pad) == (True, "correct")


@UNTIMED
@given(flips=FLIPS, pid_as_text=st.booleans(), extra=st.lists(st.sampled_from([["disk.img", "a" * 64, ""],
       ["memory.lime", "B" * 64, None], ["memory.lime", "b" * 64, "::ffff:203.0.113.7"]]), max_size=3),
       order=st.randoms(use_true_random=False))
def test_citations_with_their_facts_pass_in_any_order_and_form(flips: list, pid_as_text: bool, extra: list,
                                                               order: Any) -> None:
    rows = [["disk.img", flip_case("a" * 64, flips), flip_case(SHA, flips)],
            ["memory.lime", "b" * 64, "2345" if pid_as_text else 2345], *extra]
    order.shuffle(rows)
    assert verdict("citations+findings", rows) == (True, "correct")
    assert verdict("citations", [r[:2] for r in rows]) == (True, "correct")


@UNTIMED
@given(ms=st.lists(st.integers(-2000, 2000), min_size=3, max_size=3), zones=st.lists(ZONES, min_size=3, max_size=3),
       styles=st.lists(st.integers(0, 4), min_size=3, max_size=3), with_login=st.booleans())
def test_a_timeline_within_tolerance_passes_in_any_zone_and_form(ms: list, zones: list, styles: list,
                                                                 with_login: bool) -> None:
    rows = [[e["id"], iso(datetime.fromisoformat(e["time"]).timestamp() + d / 1000, z, s)]
            for e, d, z, s in zip(TIMELINE, ms, zones, styles, strict=True)]
    assert verdict("timeline", rows[0 if with_login else 1:]) == (True, "correct")
