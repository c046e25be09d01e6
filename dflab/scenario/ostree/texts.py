"""Text files of an installed Debian system that no case decides: man pages, copyright files, changelogs, Python and
Perl sources, configuration files as their packages ship them. Seeded from the path like :mod:`.contents`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from dflab.scenario.ostree.contents import prose, sentence, words

LICENSE_FILES = {"GPL-2+": "GPL-2", "GPL-2": "GPL-2", "GPL-3+": "GPL-3", "GPL-3": "GPL-3", "LGPL-2.1+": "LGPL-2.1",
                 "LGPL-2.1": "LGPL-2.1", "LGPL-2+": "LGPL-2", "LGPL-3+": "LGPL-3", "LGPL-3": "LGPL-3",
                 "Apache-2.0": "Apache-2.0", "MPL-2.0": "MPL-2.0", "GPL-1+": "GPL-1", "Artistic": "Artistic",
                 "BSD-3-clause": "BSD", "CC0-1.0": "CC0-1.0"}
_RELEASED = datetime(2023, 6, 10, tzinfo=UTC)  # bookworm's release: changelogs end around it


def man_page(r: random.Random, name: str, section: str, package: str, version: str, description: str) -> bytes:
    """groff source as ``man`` reads it (the caller gzips it)."""
    title = {"1": "User Commands", "5": "File Formats", "8": "System Administration"}.get(section, "Manual")
    upstream = version.rsplit(":", maxsplit=1)[-1].split("-", maxsplit=1)[0]
    lines = [f'.\\" Manual page for {name}', f'.TH {name.upper()} {section} "{_date(r):%B %Y}" '
             f'"{package} {upstream}" "{title}"', ".SH NAME", f"{name} \\- {description.lower()}",
             ".SH SYNOPSIS", f".B {name}", f"[\\fIOPTION\\fR]... [\\fI{r.choice(['FILE', 'ARG', 'NAME'])}\\fR]...",
             ".SH DESCRIPTION", *prose(r, r.randint(400, 2500)).split("\n\n"), ".SH OPTIONS"]
    for _ in range(r.randint(3, 25)):
        flag = r.choice("abcdefhiklmnopqrstvxz")
        lines += [".TP", f"\\fB\\-{flag}\\fR, \\fB\\-\\-{'-'.join(words(r, r.randint(1, 2)))}\\fR", sentence(r)]
    lines += [".SH SEE ALSO", f".BR {r.choice(['info', 'man', 'bash', 'passwd', 'systemd'])} (1)",
              ".SH AUTHOR", f"Written by {r.choice(_AUTHORS)}."]
    return ("\n".join(line for line in lines if line) + "\n").encode()


_AUTHORS = ["Paul Eggert", "Jim Meyering", "Richard M. Stallman", "David MacKenzie", "Karel Zak", "Lennart Poettering",
            "Theodore Ts'o", "Chet Ramey", "Todd C. Miller", "Damien Miller", "Guillem Jover", "Colin Watson"]


def copyright_file(r: random.Random, package: str, source: str, license_id: str) -> bytes:
    """/usr/share/doc/<package>/copyright in DEP-5 form."""
    year = r.randint(1989, 2015)
    holders = r.sample(_AUTHORS, r.randint(1, 3))
    text = ["Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
            f"Upstream-Name: {source}",
            f"Source: https://salsa.debian.org/debian/{source}", "",
            "Files: *", f"Copyright: {year}-2022 " + "\n           ".join(holders), f"License: {license_id}", "",
            "Files: debian/*", f"Copyright: {year + r.randint(1, 6)}-2023 Debian maintainers of {source}",
            f"License: {license_id}", "", f"License: {license_id}"]
    text += [" " + line if line else " ." for line in prose(r, r.randint(300, 900), 76).splitlines()]
    common = LICENSE_FILES.get(license_id)
    if common:
        text += [" .", " On Debian systems, the complete text of this license can be found in",
                 f" `/usr/share/common-licenses/{common}'."]
    return ("\n".join(text) + "\n").encode()


def changelog(r: random.Random, package: str, source: str, version: str, maintainers: list[str]) -> bytes:
    """changelog.Debian (the caller gzips it): the newest entry is ``version``, older ones count down."""
    out = []
    when = _RELEASED + timedelta(days=r.randint(-40, 500), seconds=r.randint(0, 86400))
    current = version
    for i in range(r.randint(3, 14)):
        who = r.choice(maintainers)
        dist = "bookworm-security" if "deb12u" in current and i == 0 else "unstable"
        items = "\n".join(f"  * {sentence(r, 4, 12)}" for _ in range(r.randint(1, 5)))
        out.append(f"{source} ({current}) {dist}; urgency={r.choice(['medium', 'low', 'high'])}\n\n{items}\n\n"
                   f" -- {who}  {when:%a, %d %b %Y %H:%M:%S} +0000\n")
        when -= timedelta(days=r.randint(10, 200), seconds=r.randint(0, 86400))
        current = _older(r, current)
    return "\n".join(out).encode()


def _older(r: random.Random, version: str) -> str:
    epoch, _, rest = version.rpartition(":")
    upstream, _, revision = rest.rpartition("-")
    if not upstream:
        upstream, revision = rest, ""
    head = revision.split("+")[0].split("~")[0]
    if head.isdigit() and int(head) > 1:
        revision = str(int(head) - 1)
    else:
        parts = upstream.split(".")
        last = parts[-1]
        digits = "".join(c for c in last if c.isdigit())
        parts[-1] = str(max(0, int(digits) - 1)) if digits else last
        upstream, revision = ".".join(parts), str(r.randint(1, 4))
    return (f"{epoch}:" if epoch else "") + upstream + (f"-{revision}" if revision else "")


def _date(r: random.Random) -> datetime:
    return _RELEASED - timedelta(days=r.randint(30, 1500))


def python_source(r: random.Random, module: str) -> bytes:
    """A standard-library-looking module: docstring, imports, classes and functions with bodies."""
    lines = [f'"""{sentence(r)}', "", *prose(r, r.randint(100, 500)).splitlines(), '"""', ""]
    lines += [f"import {m}" for m in sorted(r.sample(["os", "sys", "re", "io", "abc", "types", "functools",
                                                      "itertools", "collections", "warnings", "struct"], 3))]
    lines.append("")
    names = []
    for _ in range(r.randint(2, 30)):
        name = "_".join(words(r, r.randint(1, 3)))
        names.append(name)
        args = ", ".join(words(r, r.randint(0, 3)))
        if r.random() < 0.25:
            lines += ["", f"class {name.title().replace('_', '')}:", f'    """{sentence(r)}"""', "",
                      f"    def __init__(self{', ' + args if args else ''}):"]
            lines += [f"        self.{w} = {w}" for w in args.split(", ") if w] or ["        pass"]
        else:
            lines += ["", f"def {name}({args}):", f'    """{sentence(r)}"""']
            for _ in range(r.randint(1, 12)):
                a, b = words(r, 2)
                lines.append(r.choice([f"    {a} = {b}({a!r})", f"    if not {a}:\n        return None",
                                       f"    for {a} in {b}:\n        yield {a}", f"    return {a} + {b}"]))
    lines += ["", f"__all__ = {sorted(set(names))[:8]!r}", ""]
    return "\n".join(lines).encode()


def config(r: random.Random, path: str, package: str) -> bytes:
    """A configuration file as a package ships it: a comment header, commented defaults, a few settings."""
    name = path.rsplit("/", 1)[-1].lstrip(".")
    lines = [f"# {path}: {sentence(r, 3, 7).lower()}", f"# Installed by the {package} package.", "#"]
    for _ in range(r.randint(2, 25)):
        key = "_".join(words(r, r.randint(1, 2)))
        value = r.choice([r.choice(["yes", "no"]), str(r.randint(0, 600)), f"/var/lib/{package}/{key}", key])
        lines.append(r.choice([f"#{key} = {value}", f"{key} = {value}", f"# {sentence(r)}"]))
    if name.endswith(".service") or name.endswith(".target") or name.endswith(".timer"):
        return unit_file(r, name)
    return ("\n".join(lines) + "\n").encode()


def unit_file(r: random.Random, name: str) -> bytes:
    base = name.rsplit(".", 1)[0].rstrip("@")
    kind = name.rsplit(".", 1)[1]
    lines = ["#  SPDX-License-Identifier: LGPL-2.1-or-later", "", "[Unit]", f"Description={sentence(r, 3, 6)[:-1]}",
             f"Documentation=man:{base}({r.choice(['1', '8'])})"]
    if kind == "service":
        lines += ["After=network.target", "", "[Service]", f"ExecStart=/usr/sbin/{base}", "Restart=on-failure", "",
                  "[Install]", "WantedBy=multi-user.target"]
    elif kind == "timer":
        lines += ["", "[Timer]", "OnCalendar=daily", "Persistent=true", "", "[Install]", "WantedBy=timers.target"]
    return ("\n".join(lines) + "\n").encode()


def plain(r: random.Random, size: int) -> bytes:
    return prose(r, size).encode()[:size]
