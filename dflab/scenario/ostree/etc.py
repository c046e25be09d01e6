"""Configuration that names the case (host name, file system UUIDs, users, keys) or that Debian writes at install
time rather than shipping in a package, plus the text of the package-shipped files an examiner reads first.

:data:`SHIPPED` holds the real text of well-known conffiles (shared by every case); :func:`case_files` the files
only the installer, ``adduser`` and the first boot write, which differ per case.
"""

from __future__ import annotations

import base64
import hashlib
import random

from dflab.scenario.case import User, Volume
from dflab.scenario.ostree import accounts

SHIPPED: dict[str, str] = {
    "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                       'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
                       'HOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\n'
                       'BUG_REPORT_URL="https://bugs.debian.org/"\n',
    "/etc/debian_version": "12.12\n",
    "/etc/issue": "Debian GNU/Linux 12 \\n \\l\n\n",
    "/etc/issue.net": "Debian GNU/Linux 12\n",
    "/etc/host.conf": "multi on\n",
    "/etc/motd": "\nThe programs included with the Debian GNU/Linux system are free software;\nthe exact distribution "
                 "terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\n"
                 "Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n",
    "/etc/ssh/ssh_config": "\n# This is the ssh client system-wide configuration file.  See\n# ssh_config(5) for more "
                           "information.\n\nInclude /etc/ssh/ssh_config.d/*.conf\n\nHost *\n#   ForwardAgent no\n"
                           "#   ForwardX11 no\n#   PasswordAuthentication yes\n#   Port 22\n#   Protocol 2\n"
                           "    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n",
    "/etc/sudoers": "#\n# This file MUST be edited with the 'visudo' command as root.\n#\n"
                    "Defaults\tenv_reset\nDefaults\tmail_badpass\nDefaults\tsecure_path=\"/usr/local/sbin:/usr/local/"
                    "bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nDefaults\tuse_pty\n\n# User privilege specification\n"
                    "root\tALL=(ALL:ALL) ALL\n\n# Allow members of group sudo to execute any command\n"
                    "%sudo\tALL=(ALL:ALL) ALL\n\n@includedir /etc/sudoers.d\n",
    "/etc/crontab": "# /etc/crontab: system-wide crontab\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:"
                    "/bin:/usr/sbin:/usr/bin\n\n# Example of job definition:\n# m h dom mon dow user\tcommand\n"
                    "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
                    "25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }\n"
                    "47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }\n"
                    "52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }"
                    "\n#\n",
    "/etc/profile": "# /etc/profile: system-wide .profile file for the Bourne shell (sh(1))\n\nif [ \"$(id -u)\" -eq 0 "
                    "]; then\n  PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nelse\n  PATH=\""
                    "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\"\nfi\nexport PATH\n\n"
                    "if [ -d /etc/profile.d ]; then\n  for i in /etc/profile.d/*.sh; do\n"
                    "    if [ -r $i ]; then\n      . $i\n    fi\n  done\n"
                    "  unset i\nfi\n",
    "/etc/skel/.bash_logout": "# ~/.bash_logout: executed by bash(1) when login shell exits.\n\n# when leaving the "
                              "console clear the screen to increase privacy\n\nif [ \"$SHLVL\" = 1 ]; then\n    [ -x "
                              "/usr/bin/clear_console ] && /usr/bin/clear_console -q\nfi\n",
    "/etc/skel/.profile": "# ~/.profile: executed by the command interpreter for login shells.\n\n# if running bash\n"
                          "if [ -n \"$BASH_VERSION\" ]; then\n    # include .bashrc if it exists\n    if [ -f \"$HOME/"
                          ".bashrc\" ]; then\n\t. \"$HOME/.bashrc\"\n    fi\nfi\n\n# set PATH so it includes user's "
                          "private bin if it exists\nif [ -d \"$HOME/bin\" ] ; then\n"
                          "    PATH=\"$HOME/bin:$PATH\"\nfi\n",
    "/etc/skel/.bashrc": "# ~/.bashrc: executed by bash(1) for non-login shells.\n\n# If not running interactively, "
                         "don't do anything\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\n\nHISTCONTROL=ignoreboth"
                         "\nshopt -s histappend\nHISTSIZE=1000\nHISTFILESIZE=2000\nshopt -s checkwinsize\n\n"
                         "if [ -x /usr/bin/dircolors ]; then\n    alias ls='ls --color=auto'\n    alias grep='grep "
                         "--color=auto'\nfi\n\nif ! shopt -oq posix; then\n  if [ -f /usr/share/bash-completion/"
                         "bash_completion ]; then\n    . /usr/share/bash-completion/bash_completion\n  fi\nfi\n",
    "/etc/dpkg/origins/debian": "Vendor: Debian\nVendor-URL: https://www.debian.org/\nBugs: debbugs://bugs.debian.org\n",
    "/etc/debconf.conf": "# This is the main config file for debconf.\nConfig: configdb\nTemplates: templatedb\n\n"
                         "Name: config\nDriver: File\nMode: 644\nReject-Type: password\nFilename: /var/cache/debconf/"
                         "config.dat\n",
}
SSHD_CONFIG = ("\n# This is the sshd server system-wide configuration file.  See\n"
               "# sshd_config(5) for more information.\n\nInclude /etc/ssh/sshd_config.d/*.conf\n\n"
               "#Port 22\n#AddressFamily any\n#ListenAddress 0.0.0.0\n\n"
               "#LoginGraceTime 2m\n#PermitRootLogin prohibit-password\n#StrictModes yes\n#MaxAuthTries 6\n\n"
               "#PubkeyAuthentication yes\n\nKbdInteractiveAuthentication no\n\nUsePAM yes\n\nX11Forwarding yes\n"
               "PrintMotd no\n\nAcceptEnv LANG LC_*\n\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n")
SOURCES = ("deb http://deb.debian.org/debian/ bookworm main non-free-firmware\n"
           "deb-src http://deb.debian.org/debian/ bookworm main non-free-firmware\n\n"
           "deb http://security.debian.org/debian-security bookworm-security main non-free-firmware\n"
           "deb-src http://security.debian.org/debian-security bookworm-security main non-free-firmware\n\n"
           "# bookworm-updates, to get updates before a point release is made;\n"
           "deb http://deb.debian.org/debian/ bookworm-updates main non-free-firmware\n"
           "deb-src http://deb.debian.org/debian/ bookworm-updates main non-free-firmware\n")


def _fstab(root: Volume, index: int) -> str:
    return ("# /etc/fstab: static file system information.\n#\n# Use 'blkid' to print the universally unique "
            "identifier for a\n# device; this may be used with UUID= as a more robust way to name devices\n# that "
            "works even if disks are added and removed. See fstab(5).\n#\n# systemd generates mount units based on "
            "this file, see systemd.mount(5).\n# Please run 'systemctl daemon-reload' after making changes here.\n"
            "#\n# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
            f"# / was on /dev/sda{index} during installation\n"
            f"UUID={root.uuid} /               ext4    errors=remount-ro 0       1\n"
            "/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n")


def _key(r: random.Random, kind: str, hostname: str) -> tuple[bytes, bytes]:
    """An OpenSSH host key pair of ``kind`` in OpenSSH's formats (drawn: never a usable key)."""
    name = {"ed25519": b"ssh-ed25519", "ecdsa": b"ecdsa-sha2-nistp256", "rsa": b"ssh-rsa"}[kind]
    public_len = {"ed25519": 32, "ecdsa": 65, "rsa": 385}[kind]
    blob = len(name).to_bytes(4, "big") + name + public_len.to_bytes(4, "big") + r.randbytes(public_len)
    pub = name + b" " + base64.b64encode(blob) + f" root@{hostname}\n".encode()
    body = b"openssh-key-v1\0" + r.randbytes({"ed25519": 220, "ecdsa": 300, "rsa": 1500}[kind])
    text = base64.b64encode(body)
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    private = b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b"\n".join(lines) + b"\n-----END OPENSSH PRIVATE KEY-----\n"
    return private, pub


def case_files(seed: bytes, hostname: str, users: tuple[User, ...], volumes: tuple[Volume, ...], root: Volume,
               installed_at: int) -> list[tuple[str, bytes, int, int, int]]:
    """(path, content, mode, uid, gid) of the files the installer and first boot write for this case."""
    r = random.Random(hashlib.sha256(b"dflab/ostree/case\0" + seed).digest())
    shadow_gid = accounts.GID["shadow"]
    index = next(i for i, v in enumerate(volumes, 1) if v.id == root.id)
    out: list[tuple[str, bytes, int, int, int]] = [
        ("/etc/hostname", f"{hostname}\n".encode(), 0o644, 0, 0),
        ("/etc/hosts", (f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\n# The following lines are desirable for "
                        "IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"
                        "ff02::2 ip6-allrouters\n").encode(), 0o644, 0, 0),
        ("/etc/fstab", _fstab(root, index).encode(), 0o644, 0, 0),
        ("/etc/machine-id", (r.randbytes(16).hex() + "\n").encode(), 0o444, 0, 0),
        ("/etc/timezone", b"Etc/UTC\n", 0o644, 0, 0),
        ("/etc/default/locale", b"#  File generated by update-locale\nLANG=en_US.UTF-8\n", 0o644, 0, 0),
        ("/etc/apt/sources.list", SOURCES.encode(), 0o644, 0, 0),
        ("/etc/ssh/sshd_config", SSHD_CONFIG.encode(), 0o644, 0, 0),
        ("/etc/passwd", accounts.passwd(users), 0o644, 0, 0),
        ("/etc/passwd-", accounts.passwd(users[:-1]), 0o644, 0, 0),
        ("/etc/group", accounts.group(users), 0o644, 0, 0),
        ("/etc/group-", accounts.group(users[:-1]), 0o644, 0, 0),
        ("/etc/shadow", accounts.shadow(users, seed, installed_at), 0o640, 0, shadow_gid),
        ("/etc/shadow-", accounts.shadow(users[:-1], seed, installed_at), 0o640, 0, shadow_gid),
        ("/etc/gshadow", accounts.gshadow(users), 0o640, 0, shadow_gid),
        ("/etc/subuid", "".join(f"{u.name}:{100000 + i * 65536}:65536\n" for i, u in enumerate(users)).encode(),
         0o644, 0, 0),
        ("/etc/subgid", "".join(f"{u.name}:{100000 + i * 65536}:65536\n" for i, u in enumerate(users)).encode(),
         0o644, 0, 0),
        ("/var/lib/systemd/random-seed", r.randbytes(512), 0o600, 0, 0),
    ]
    for kind in ("ecdsa", "ed25519", "rsa"):
        private, public = _key(r, kind, hostname)
        out += [(f"/etc/ssh/ssh_host_{kind}_key", private, 0o600, 0, 0),
                (f"/etc/ssh/ssh_host_{kind}_key.pub", public, 0o644, 0, 0)]
    for home, uid, gid in [("/root", 0, 0)] + [(u.home, u.uid, u.gid) for u in users]:
        for name in (".bashrc", ".profile") + ((".bash_logout",) if uid else ()):
            out.append((f"{home}/{name}", SHIPPED[f"/etc/skel/{name}"].encode(), 0o644, uid, gid))
    return out
