"""Lab 07's hooks (dflab/lab_hooks.py): the documents a prosecutor or judge receives, with flaws planted per trainee.

``materials`` writes, into the trainee's evidence folder (``07-review/<lang>/``, read-only in their lab, covered by
the manifest), what a court file holds about the digital evidence of their case variant:

``report.md``    the examiner's report: each exhibit's acquisition (who, when, tool and version, write protection,
                 hash), findings drawn from the case's timeline, some in UTC and some in local time;
``custody.md``   the chain-of-custody record: every hand-over of every exhibit (who to whom, when, why, seal);
``hashes.md``    the hash list: each exhibit's SHA-256 at acquisition and when it was verified;
``timeline.md``  an excerpt of the case's timeline (UTC), what the findings must agree with;
``tools.md``     the laboratory's register of tool versions with their release dates.

Three or four flaws are planted per trainee, drawn from the case's own seed (same variant, same documents and key),
from :data:`KINDS`; every other item is right, including the ones that look odd but are not flaws (a seal broken
for examination and recorded, a live memory capture with no write-blocker, a time given correctly in local time).
Each trainee gets at least one flaw that puts an exhibit's integrity in doubt, so the question "which exhibits can
the court rely on as they stand" never has the same answer for everyone. Item references carry per-trainee parts
(the examiner's initials in exhibit numbers, the custody log's numbering), so a neighbour's answers name items that
are not in one's own documents. What was planted goes to the key (``facts.review``); the documents never say.

The evidence hashes in the documents are the manifest's (``exhibits``), so they are the trainee's own; a planted
mismatch keeps the first four hex digits, as a careless comparison would miss.

The court file is written in English, French and Spanish (``en/``, ``fr/``, ``es/``), each as that language's
court expert writes one (« rapport d'expertise », « informe pericial »): the items and flaws are drawn first, in no
language, then each language renders them with the lab's catalog (every text marked ``N_()`` here is a unit of
``labs/07-review/locale/``, dflab.i18n.units) and Babel's dates for its locale. References, hashes, seals and
versions are printed as they are in every language, since answers name them. Every language is in every variant
rather than the trainee's alone: a variant is built from (spec, seed) only and does not know its trainee's
language, an instructor can compare the French file with the English one, and the manifest covers all three.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.dates import format_skeleton

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.i18n.catalog import po_path, read_catalog, translations
from dflab.i18n.lang import DEFAULT_LANG, LANGUAGES, N_
from dflab.i18n.scenario import po_path as scenario_po_path

SECTION = "review"  # facts.review in the key
DOCUMENTS = ("report.md", "custody.md", "hashes.md", "timeline.md", "tools.md")
# The court file is written once per language the labs ship (LANGUAGES, dflab.i18n.lang's), each in its own folder
# (07-review/en/, fr/, es/): the flaws and the key are drawn before any word is chosen, so every language holds the
# same items and the same flaws, and a trainee's notebook shows the folder of their language
# (dflab.i18n.lang.current_lang()).
LAB_DIR = Path(__file__).resolve().parent
SCENARIOS_DIR = LAB_DIR.parent / "scenarios"

# code -> (what is wrong, the standard it breaches most directly, whether it puts an exhibit's integrity in doubt).
# Codes are short on purpose: they are the answers' values, and the choices the notebook offers name them.
KINDS: dict[str, tuple[str, str, bool]] = {
    "hash": ("a verification hash that does not match the acquisition hash", "acpo1", True),
    "wprot": ("a drive acquired with no write protection recorded", "acpo1", True),
    "seal": ("a seal number that changes between hand-overs with no re-sealing recorded", "acpo1", True),
    "gap": ("a hand-over from someone who never received the exhibit (a hand-over is missing)", "rfc41", True),
    "order": ("a hand-over dated before the previous hand-over of the same exhibit", "rfc41", True),
    "sign": ("a hand-over the receiver did not sign", "rfc41", True),
    "tool": ("an acquisition tool version released after the acquisition", "acpo3", False),
    "concl": ("a finding the timeline contradicts", "acpo2", False),
    "tz": ("a time labelled local time that is really the UTC clock value", "rfc2", False),
}
INTEGRITY = tuple(k for k, (_, _, taints) in KINDS.items() if taints)
REPORTING = tuple(k for k, (_, _, taints) in KINDS.items() if not taints)

EXAMINERS = ("Maria Kowalski", "Daniel Osei", "Amira Haddad", "Lucas Moreau", "Priya Raman", "Tomas Novak",
             "Grace Mensah", "Jonas Berg", "Elena Vasquez", "Samuel Okoro", "Hana Sato", "Omar Farouk",
             "Ines Carvalho", "Victor Lindqvist", "Nadia Petrova", "Kofi Asante")
# People with a rank or function are translated whole, so each language gives the rank its own word, order and gender.
OFFICERS = (N_("PC Ruth Adeyemi"), N_("PC Mark Tanner"), N_("PC Sofia Greco"), N_("PC Ahmed Karimi"),
            N_("PC Julia Brandt"))
ANALYSTS = (N_("Dr Chen Wei"), N_("Dr Laura Fischer"), N_("Dr Ivan Petrov"), N_("Dr Aisha Bello"),
            N_("Dr Marco Rossi"))
NETWORK_LEADS = (N_("Network team lead Ben Carter"), N_("Network team lead Mei Lin"),
                 N_("Network team lead Raj Patel"))
BYSTANDERS = (N_("Sgt Paul Dunn"), N_("PC Lena Vogel"), N_("Clerk Anna Berg"), N_("Sgt Yusuf Demir"))
BLOCKERS = ("Tableau T35u", "Tableau TX1", "WiebeTech Forensic UltraDock v5", "CRU WriteBlocker T8u")
OFFSETS = (1, 2, 3, -4, -5)  # the case's local time, hours from UTC
# The acquisition tool of each kind of exhibit, with two versions in service at the time and one released later.
TOOLS = {"disk": ("dcfldd", "Guymager", "FTK Imager"), "memory": ("LiME", "AVML"), "network": ("dumpcap",)}
VERSIONS = {"dcfldd": ("1.7.1", "1.9.1", "1.9.4"), "Guymager": ("0.8.12", "0.8.13", "0.9.2"),
            "FTK Imager": ("4.7.1", "8.0.0", "8.2.1"), "LiME": ("1.9", "1.9.1", "1.10.2"),
            "AVML": ("0.11.2", "0.14.0", "0.16.1"), "dumpcap": ("4.0.12", "4.2.4", "4.4.9")}
# What each timeline action is called in the documents (an action no entry names keeps its own word).
ACTIONS = {"login": N_("the suspect's account logs in"),
           "browse": N_("the suspect's account signs in to a web service"),
           "configure": N_("the suspect's account changes a router's settings"),
           "download": N_("a file is downloaded from the Internet"),
           "execute": N_("the downloaded program is started"),
           "hide": N_("a process hides itself from the task list"),
           "phish": N_("a wave of phishing e-mails is sent"),
           "harvest": N_("a victim's credentials are captured"),
           "read-mail": N_("the suspect's account reads its mail"),
           "stage": N_("files are packed into an archive"),
           "exfiltrate": N_("data is sent out of the network"),
           "delete": N_("a file is deleted"),
           "acquire": N_("the investigators acquire the evidence")}
OTHER_ACTION = N_("the step '{action}'")
ORDINALS = (N_("first time"), N_("second time"), N_("third time"), N_("fourth time"), N_("more times"))
WHATS = {"disk": N_("forensic image of the internal drive of the suspect's computer"),
         "memory": N_("capture of the physical memory of the suspect's computer, taken while it ran"),
         "network": N_("capture of the suspect's network segment, from a mirror port")}
BLOCKED = N_("hardware write-blocker {blocker}")
UNPROTECTED = N_("not recorded")
PROTECTIONS = {"memory": N_("not applicable: live acquisition of volatile memory, before the drive (order of "
                            "volatility)"),
               "network": N_("not applicable: passive capture, handed over as a copy")}
HANDED_OVER = N_("hand-over of the capture for examination")
STORED = N_("transport to the evidence store")
EXAMINED = N_("examination")
RETURNED = N_("return after examination: seal {broken} broken to examine, resealed {seal}")
EXHIBIT_FILES = {"disk": ("disk.img",), "memory": ("memory.lime", "memory.raw"),
                 "network": ("network.pcapng", "network.pcap")}


@dataclass
class Exhibit:
    ref: str
    kind: str
    file: str
    sha256: str
    what: str  # what, by and protection are msgids, translated when the documents are written
    acquired: datetime
    by: str
    tool: str
    version: str
    protection: str
    blocker: str = ""  # the write-blocker a disk's protection names


@dataclass
class Entry:
    ref: str
    exhibit: str
    time: datetime
    giver: str
    receiver: str
    purpose: str  # a msgid, its {broken} and {seal} filled when written
    seal: str
    signed_by_receiver: bool = True
    resealed: bool = False
    broken: str = ""  # the seal broken to examine, when resealed


@dataclass
class Finding:
    ref: str
    facts: dict[str, Any] = field(default_factory=dict)  # what it states: its type, events, zone, exhibits


def materials(case: Any, exhibits: dict[str, str], out_dir: Path) -> dict[str, dict[str, Any]]:
    """Write this trainee's documents into ``out_dir``; return the key's ``review`` section (what was planted)."""
    rng = random.Random(hashlib.sha256(b"dflab lab 07-review\0" + case.seed.encode()).digest())
    docs = _documents(case, exhibits, rng)
    planted = _plant(docs, rng)
    for lang in LANGUAGES:
        (out_dir / lang).mkdir()
        for name, text in _render(case, docs, Voice.of(lang, case)).items():
            write_bytes(out_dir / lang / name, text.encode("utf-8"))
    refs = sorted({p["ref"] for p in planted})
    return {SECTION: {
        "flawed_items": refs,
        "flaw_kinds": sorted({p["kind"] for p in planted}),
        "breaches": sorted({KINDS[p["kind"]][1] for p in planted}),
        "unreliable_exhibits": sorted({p["exhibit"] for p in planted if KINDS[p["kind"]][2]}),
        "planted": sorted(planted, key=lambda p: (p["kind"], p["ref"])),
        "exhibits": [e.ref for e in docs.exhibits],
        "local_offset_hours": docs.offset,
    }}


@dataclass
class Documents:
    exhibits: list[Exhibit]
    custody: list[Entry]
    findings: list[Finding]
    register: dict[str, list[tuple[str, datetime]]]
    verified: dict[str, tuple[datetime, str, str]]  # exhibit ref -> (when, by, verification SHA-256)
    offset: int
    examiner: str
    case_number: str


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def _documents(case: Any, exhibits: dict[str, str], rng: random.Random) -> Documents:
    examiner, officer, analyst = rng.choice(EXAMINERS), rng.choice(OFFICERS), rng.choice(ANALYSTS)
    netlead = rng.choice(NETWORK_LEADS)
    initials = "".join(part[0] for part in examiner.split()[:2])
    acquire = next((e.time for e in case.timeline if e.action == "acquire"), case.timeline[-1].time + 1800)
    times = {"memory": _at(case.memory.acquired_at), "disk": _at(acquire) + timedelta(minutes=rng.randint(25, 70)),
             "network": _at(case.network.end) + timedelta(hours=rng.randint(2, 20))}
    blocker = rng.choice(BLOCKERS)
    register: dict[str, list[tuple[str, datetime]]] = {}
    found: list[Exhibit] = []
    for kind in ("disk", "memory", "network"):
        name = next((n for n in EXHIBIT_FILES[kind] if n in exhibits), None)
        if name is None:
            continue
        tool = rng.choice(TOOLS[kind])
        old, current, later = VERSIONS[tool]
        register[tool] = [(old, times[kind] - timedelta(days=rng.randint(700, 1400))),
                          (current, times[kind] - timedelta(days=rng.randint(60, 600))),
                          (later, times[kind] + timedelta(days=rng.randint(30, 300)))]
        found.append(Exhibit(f"{initials}/{len(found) + 1}", kind, name, exhibits[name], WHATS[kind], times[kind],
                             netlead if kind == "network" else examiner, tool, rng.choice((old, current)),
                             PROTECTIONS.get(kind, BLOCKED), blocker if kind == "disk" else ""))
    seals = iter(rng.sample(range(100000, 999999), 16))
    custody: list[Entry] = []
    verified: dict[str, tuple[datetime, str, str]] = {}
    for ex in found:
        t, first = ex.acquired, f"{next(seals)}"
        if ex.kind == "network":
            handed = t + timedelta(hours=rng.randint(1, 6))
            custody += [Entry("", ex.ref, handed, netlead, examiner, HANDED_OVER, first),
                        Entry("", ex.ref, handed + timedelta(minutes=rng.randint(30, 180)), examiner, officer,
                              STORED, first)]
            verified[ex.ref] = (handed + timedelta(minutes=rng.randint(5, 25)), examiner, ex.sha256)
            continue
        stored = t + timedelta(minutes=rng.randint(20, 90))
        examined = stored + timedelta(days=1, hours=rng.randint(0, 20))
        returned = examined + timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 8))
        second = f"{next(seals)}"
        custody += [Entry("", ex.ref, stored, examiner, officer, STORED, first),
                    Entry("", ex.ref, examined, officer, analyst, EXAMINED, first),
                    Entry("", ex.ref, returned, analyst, officer, RETURNED, second, resealed=True, broken=first)]
        verified[ex.ref] = (examined + timedelta(minutes=rng.randint(10, 50)), analyst, ex.sha256)
    custody.sort(key=lambda e: (e.time, e.exhibit))
    start = rng.randint(1000, 8999)
    custody = [replace(e, ref=f"C-{start + i}") for i, e in enumerate(custody)]
    offset = rng.choice(OFFSETS)
    return Documents(found, custody, _findings(case, rng, found), register, verified, offset,
                     examiner, f"{found[0].acquired:%Y}/{rng.randint(10000, 99999)}")


@dataclass(frozen=True)
class Phrase:
    """How the documents name an event, in words each language writes its own way: the action's msgid, the
    action's id for one the table does not name (:data:`OTHER_ACTION`), which time it is when it repeats."""

    words: str
    action: str = ""
    ordinal: str = ""


def _events(case: Any) -> list[tuple[datetime, Phrase, tuple[str, ...], str]]:
    """The case's timeline as the documents state it: (time to the minute, what happened, where it shows).

    Neutral words from each event's action, never its description: the description names what other labs ask for
    (an archive's path, a port, a host name), and these documents sit in every variant built beside this lab.
    Times to the minute, as a report states them, for the same reason (labs grade event times to the second).
    """
    ordered = sorted(case.timeline, key=lambda e: e.time)
    seen: dict[str, int] = {}
    counts = {a: sum(e.action == a for e in ordered) for a in {e.action for e in ordered}}
    out = []
    for e in ordered:
        seen[e.action] = seen.get(e.action, 0) + 1
        ordinal = ORDINALS[min(seen[e.action], len(ORDINALS)) - 1] if counts[e.action] > 1 else ""
        phrase = Phrase(ACTIONS.get(e.action, OTHER_ACTION), e.action, ordinal)
        out.append((_at(e.time).replace(second=0), phrase, tuple(e.sources), e.action))
    return out


def _findings(case: Any, rng: random.Random, exhibits: list[Exhibit]) -> list[Finding]:
    """Statements drawn from the timeline: three about the order of two events (a minute apart at least, so the
    excerpt shows which came first), three about when one happened (two in local time, one in UTC), each citing the
    exhibits it shows in. Paragraphs are numbered after the exhibits' (R-1 ... R-n)."""
    events = [e for e in _events(case) if e[3] != "acquire"]
    cited = {e[1]: ", ".join(x.ref for x in exhibits if x.kind in e[2]) for e in events}  # "": none
    pairs = [(i, j) for i in range(len(events)) for j in range(i + 2, len(events)) if events[i][0] < events[j][0]]
    out: list[Finding] = []
    for i, j in sorted(rng.sample(pairs, min(3, len(pairs)))):
        out.append(Finding("", {"type": "order", "before": events[i][1], "after": events[j][1],
                                    "exhibits": cited[events[i][1]]}))
    zones = ["local", "local", "utc"]
    rng.shuffle(zones)
    for index, zone in zip(sorted(rng.sample(range(len(events)), 3)), zones, strict=True):  # a timeline has >= 3
        out.append(Finding("", {"type": "time", "event": events[index][1], "utc": events[index][0],
                                    "zone": zone, "exhibits": cited[events[index][1]]}))
    rng.shuffle(out)
    return [replace(f, ref=f"R-{len(exhibits) + n + 1}") for n, f in enumerate(out)]


def _plant(docs: Documents, rng: random.Random) -> list[dict[str, str]]:
    """Choose 3 or 4 kinds (at least one, at most two, that put an exhibit in doubt, each on its own exhibit) and
    change the one item each names."""
    total = rng.choice((3, 4))
    integrity = rng.randint(max(1, total - len(REPORTING)), min(2, len(docs.exhibits)))
    kinds = rng.sample(INTEGRITY, integrity) + rng.sample(REPORTING, total - integrity)
    free = list(docs.exhibits)
    rng.shuffle(free)
    planted = []
    for kind in sorted(kinds, key=lambda k: k != "wprot"):  # the write-blocker flaw needs the drive: placed first
        if kind not in INTEGRITY:
            planted.append(_plant_reporting(docs, kind, rng))
            continue
        ex = next((e for e in free if e.kind == "disk"), None) if kind == "wprot" else free[0]
        if ex is None:  # no drive among the exhibits: a missing hand-over instead
            kind, ex = "gap", free[0]
        free.remove(ex)
        planted.append(_plant_integrity(docs, kind, ex, rng))
    return planted


def _plant_integrity(docs: Documents, kind: str, ex: Exhibit, rng: random.Random) -> dict[str, str]:
    if kind == "hash":
        when, by, good = docs.verified[ex.ref]
        bad = good[:4] + hashlib.sha256(f"altered {good}".encode()).hexdigest()[4:]
        docs.verified[ex.ref] = (when, by, bad)
        return {"kind": kind, "ref": ex.ref, "exhibit": ex.ref}
    if kind == "wprot":
        ex.protection = UNPROTECTED
        return {"kind": kind, "ref": ex.ref, "exhibit": ex.ref}
    chain = [i for i, e in enumerate(docs.custody) if e.exhibit == ex.ref]
    later = chain[1:]
    if kind == "seal":
        later = [i for i in later if not docs.custody[i].resealed]
    index = rng.choice(later)
    entry, previous = docs.custody[index], docs.custody[chain[chain.index(index) - 1]]
    if kind == "gap":
        entry.giver = rng.choice([p for p in BYSTANDERS if p not in (previous.receiver, entry.receiver)])
    elif kind == "order":
        entry.time = previous.time - timedelta(hours=rng.randint(2, 9), minutes=rng.randint(0, 59))
    elif kind == "sign":
        entry.signed_by_receiver = False
    elif kind == "seal":
        entry.seal = str(rng.randint(100000, 999999))
        while entry.seal == previous.seal:
            entry.seal = str(rng.randint(100000, 999999))
    return {"kind": kind, "ref": entry.ref, "exhibit": ex.ref}


def _plant_reporting(docs: Documents, kind: str, rng: random.Random) -> dict[str, str]:
    if kind == "tool":
        ex = rng.choice(docs.exhibits)
        ex.version = docs.register[ex.tool][-1][0]
        return {"kind": kind, "ref": _exhibit_paragraph(docs, ex), "exhibit": ex.ref}
    wanted = "order" if kind == "concl" else "time"
    candidates = [f for f in docs.findings if f.facts["type"] == wanted and
                  (kind == "concl" or f.facts["zone"] == "local")]
    finding = rng.choice(candidates)
    if kind == "concl":
        finding.facts["before"], finding.facts["after"] = finding.facts["after"], finding.facts["before"]
    else:
        finding.facts["zone"] = "local-unconverted"
    return {"kind": kind, "ref": finding.ref, "exhibit": ""}


def _exhibit_paragraph(docs: Documents, ex: Exhibit) -> str:
    return f"R-{docs.exhibits.index(ex) + 1}"


# -- rendering ----------------------------------------------------------------------------------------------------
# A catalog is read once per process and per version of its file (a variant's documents in one language are
# written with one version: Voice.of): a .po edited while a session runs (a translation fixed) is read again, so a
# variant built then is the one a fresh build makes.
Version = tuple[int, int, int] | None  # a .po's (st_ino, st_mtime_ns, st_size); None: no such file


def _version(path: Path) -> Version:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _words(lang: str) -> dict[str, str]:
    """The lab's catalog for ``lang`` (translated, not fuzzy): a text it lacks is written in English, as a release
    does, and tests/test_lab07_i18n.py fails on it."""
    return {} if lang == DEFAULT_LANG else _words_of(lang, _version(po_path(LAB_DIR, lang)))


@functools.cache
def _words_of(lang: str, version: Version) -> dict[str, str]:  # version: the cache's key only
    return translations(LAB_DIR, lang)


def _case_title(lang: str, scenario: str, title: str) -> str:
    """The case's title as the scenario's catalog gives it in ``lang`` (dflab.i18n.scenario), else as written."""
    path = scenario_po_path(SCENARIOS_DIR / f"{scenario}.yaml", scenario, lang)
    if lang == DEFAULT_LANG:
        return title
    return _title_of(path, lang, title, _version(path))


@functools.cache
def _title_of(path: Path, lang: str, title: str, version: Version) -> str:
    if version is None:
        return title
    found = read_catalog(path, lang).get(title.strip())
    return found.string if found is not None and isinstance(found.string, str) and found.string and not found.fuzzy \
        else title


@dataclass(frozen=True)
class Voice:
    """How one language writes the court file: its words (the lab's catalog), its dates (Babel's CLDR patterns for
    the language; English keeps ISO 8601, as the labs' English evidence does) and the case's title."""

    lang: str
    title: str
    words: dict[str, str] = field(hash=False)  # msgid -> this language's text

    @classmethod
    def of(cls, lang: str, case: Any) -> Voice:
        return cls(lang, _case_title(lang, case.scenario_id, case.title), _words(lang))

    def __call__(self, msgid: str, **fields: object) -> str:
        words = self.words
        text = words.get(msgid, msgid)
        try:
            return text.format(**fields)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            # What str.format raises on a field the text is not filled with ({name}, {0}, {by.x}, {by[x]}, a bad
            # spec). The catalog refuses such a translation at its line when read (dflab.i18n.catalog.check_fields):
            # this is the last word, for a msgid of the hooks themselves.
            raise DflabError(f"the {self.lang} text {msgid[:60]!r} does not fit its {{fields}}: {exc!r}",
                             str(po_path(LAB_DIR, self.lang) if msgid in words else Path(__file__))) from None

    def date(self, t: datetime) -> str:
        return t.strftime("%Y-%m-%d") if self.lang == DEFAULT_LANG else format_skeleton("yMMdd", t, locale=self.lang)

    def clock(self, t: datetime) -> str:
        return t.strftime("%H:%M") if self.lang == DEFAULT_LANG else format_skeleton("Hm", t, locale=self.lang)

    def stamp(self, t: datetime) -> str:
        """A date and time to the minute, as the documents' tables give them."""
        return f"{self.date(t)} {self.clock(t)}"

    def phrase(self, p: Phrase) -> str:
        words = self(p.words, action=p.action)
        return f"{words} ({self(p.ordinal)})" if p.ordinal else words

    def exhibits(self, refs: str) -> str:
        return refs or self(N_("none"))


def _zone(hours: int) -> str:
    return f"UTC{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _render(case: Any, docs: Documents, say: Voice) -> dict[str, str]:
    """The five documents in ``say``'s language: the same items, references, hashes and seals in every language."""
    local = _zone(docs.offset)
    header = (say(N_("Case {number}: {title}"), number=docs.case_number, title=say.title) + "\n\n"
              + say(N_("All times are UTC unless a paragraph says otherwise. Local time in this case is {zone}."),
                    zone=local) + "\n\n")
    report = [say(N_("# Examiner's report")) + f"\n\n{header}" + say(N_("Examiner: {name}"), name=docs.examiner)
              + "\n\n" + say(N_("## Exhibits and their acquisition")) + "\n"]
    for n, ex in enumerate(docs.exhibits, 1):
        report.append(say(N_("**{paragraph}.** Exhibit **{exhibit}** (`{file}`): {what}. Acquired on {date} {time} UTC "
                             "by {by} with {tool} {version}. Write protection: {protection}. SHA-256 at acquisition: "
                             "`{sha256}`."),
                          paragraph=f"R-{n}", exhibit=ex.ref, file=ex.file, what=say(ex.what),
                          date=say.date(ex.acquired), time=say.clock(ex.acquired), by=say(ex.by), tool=ex.tool,
                          version=ex.version, protection=say(ex.protection, blocker=ex.blocker), sha256=ex.sha256)
                      + "\n")
    report.append(say(N_("## Findings")) + "\n")
    for f in docs.findings:
        seen = say.exhibits(f.facts["exhibits"])
        if f.facts["type"] == "order":
            report.append(say(N_("**{paragraph}.** The evidence shows that “{before}” happened before “{after}” "
                                 "(exhibits {exhibits})."), paragraph=f.ref, before=say.phrase(f.facts["before"]),
                              after=say.phrase(f.facts["after"]), exhibits=seen) + "\n")
            continue
        utc, event = f.facts["utc"], say.phrase(f.facts["event"])
        if f.facts["zone"] == "utc":
            report.append(say(N_("**{paragraph}.** At {date} {time} UTC: “{event}” (exhibits {exhibits})."),
                              paragraph=f.ref, date=say.date(utc), time=say.clock(utc), event=event, exhibits=seen)
                          + "\n")
            continue
        shown = utc if f.facts["zone"] == "local-unconverted" else utc + timedelta(hours=docs.offset)
        report.append(say(N_("**{paragraph}.** At {date} {time} local time ({zone}): “{event}” (exhibits "
                             "{exhibits})."), paragraph=f.ref, date=say.date(shown), time=say.clock(shown),
                          zone=local, event=event, exhibits=seen) + "\n")
    report.append(say(N_("## Conclusion")) + "\n\n"
                  + say(N_("The exhibits above were acquired and examined with the tools and methods stated. Each "
                           "finding cites the exhibits it rests on; the timeline excerpt lists the events in order."))
                  + "\n")
    signed = say(N_("signed"))
    custody = [say(N_("# Chain-of-custody record")) + f"\n\n{header}"
               + say(N_("| Entry | Exhibit | Date and time (UTC) | From | To | Purpose | Seal | Signed by giver | "
                        "Signed by receiver |")) + "\n|---|---|---|---|---|---|---|---|---|\n"]
    for e in docs.custody:
        purpose = say(e.purpose, broken=e.broken, seal=e.seal)
        custody.append(f"| {e.ref} | {e.exhibit} | {say.stamp(e.time)} | {_cell(say(e.giver))} | "
                       f"{_cell(say(e.receiver))} | {_cell(purpose)} | {e.seal} | {signed} | "
                       f"{signed if e.signed_by_receiver else ''} |\n")
    hashes = [say(N_("# Hash list")) + f"\n\n{header}"
              + say(N_("| Exhibit | File | Algorithm | At acquisition | Verified on (UTC) | Verified by | "
                       "At verification |")) + "\n|---|---|---|---|---|---|---|\n"]
    for ex in docs.exhibits:
        when, by, value = docs.verified[ex.ref]
        hashes.append(f"| {ex.ref} | {ex.file} | SHA-256 | {ex.sha256} | {say.stamp(when)} | {_cell(say(by))} | "
                      f"{value} |\n")
    timeline = [say(N_("# Timeline excerpt")) + f"\n\n{header}" + say(N_("| Time (UTC) | Event | Seen in |"))
                + "\n|---|---|---|\n"]
    kinds = {x.kind: x.ref for x in docs.exhibits}
    for when, phrase, sources, _action in _events(case):
        shows = ", ".join(kinds[s] for s in ("disk", "memory", "network") if s in sources and s in kinds)
        timeline.append(f"| {say.stamp(when)} | {_cell(say.phrase(phrase))} | {shows or '-'} |\n")
    tools = [say(N_("# Laboratory register of tool versions")) + "\n\n"
             + say(N_("Every version the laboratory knows of, with the date it was released.")) + "\n\n"
             + say(N_("| Tool | Version | Released (UTC date) |")) + "\n|---|---|---|\n"]
    for tool in sorted(docs.register):
        for version, released in docs.register[tool]:
            tools.append(f"| {tool} | {version} | {say.date(released)} |\n")
    return {"report.md": "\n".join(report), "custody.md": "".join(custody), "hashes.md": "".join(hashes),
            "timeline.md": "".join(timeline), "tools.md": "".join(tools)}
