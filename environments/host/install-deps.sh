#!/usr/bin/env bash
# Install what dflab and its real-tool tests need on a fresh Debian/Ubuntu machine (root), once.
# Debian packages: The Sleuth Kit CLI (fls, icat, mmls ...), tshark, fsck tools for the image checks,
# ewf-tools + faketime (optional E01 copies of disk images, with a frozen acquisition clock), dcfldd (lab 06 images
# its drive with it, as trainees do),
# PostgreSQL (the gradebook tests start a real server), Node.js/npm (JupyterHub's proxy) and Chromium (the
# Validate button's browser test drives Debian's Chromium with the playwright package from the test extra).
# Python: a virtual environment in .venv with dflab and its test extras, made with the *distribution's*
# interpreter (/usr/bin/python3: Debian 12's 3.11.2, Debian 13's 3.13), the one instructors have, so the
# suite runs on the oldest Python the project supports rather than a newer one a developer installed.
# PYTHON=... picks another; a .venv made with a different interpreter is made again.
# npm: configurable-http-proxy (JupyterHub's proxy) into .venv/node, linked into .venv/bin.
# Fails loudly: a missing real tool must stop the run, never turn tests into skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
for pair in fls:sleuthkit tshark:tshark fsck.fat:dosfstools e2fsck:e2fsprogs npm:npm ewfacquire:ewf-tools faketime:faketime \
    dcfldd:dcfldd xz:xz-utils file:file pdfinfo:poppler-utils exiftool:libimage-exiftool-perl sqlite3:sqlite3 \
    ntfs-3g:ntfs-3g sgdisk:gdisk fdisk:fdisk rifiuti-vista:rifiuti2 modinfo:kmod cpio:cpio zstd:zstd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
# Debian's package; /usr/bin/chromium is a wrapper script around this binary, which Playwright is given.
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
# Playwright's own driver (a bundled node binary) links libatomic, which a minimal Debian lacks.
ldconfig -p 2>/dev/null | grep -q 'libatomic\.so\.1 ' || need_apt+=(libatomic1)
# The distribution's Python with venv (ensurepip) and headers: Debian ships them as python3-venv and python3-dev.
if ! /usr/bin/python3 -c "import ensurepip, venv" >/dev/null 2>&1; then need_apt+=(python3 python3-venv); fi
/usr/bin/python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" >/dev/null 2>&1 || need_apt+=(python3-dev)
# hivex (libguestfs' registry hive library), the third reader tests/test_windows_registry.py compares with regipy and
# libregf: Debian's binding for the distribution's own interpreter, which the tests run as /usr/bin/python3.
/usr/bin/python3 -c "import hivex" >/dev/null 2>&1 || need_apt+=(python3-hivex)
if ((${#need_apt[@]})); then
  echo "install-deps: installing Debian packages: ${need_apt[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root (or sudo) to install ${need_apt[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # tshark asks whether non-root users may capture; preseed "no".
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-/usr/bin/python3}
want=$("$PY" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')
have=$(.venv/bin/python -c 'import sys; print(sys.version.split()[0], sys.base_prefix)' 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  [ -z "$have" ] || echo "install-deps: .venv was made with Python $have; making it again with $want" >&2
  rm -rf .venv
  "$PY" -m venv .venv
fi
stamp=.venv/.dflab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi
# jsonschema builds an IRI grammar (lark) at import when rfc3987-syntax is installed (it comes with
# jupyter-events' jsonschema[format-nongpl] extra): 2.6 s of CPU in every process importing nbformat, so in
# every lab server, nbgrader run and grading worker. No schema Jupyter or dflab uses has an "iri" format,
# and `pip check` stays clean. The trainee image (Dockerfile) drops it the same way.
if compgen -G ".venv/lib/python3*/site-packages/rfc3987_syntax*" >/dev/null; then
  .venv/bin/python -m pip uninstall -q -y rfc3987-syntax lark
fi
if [ ! -x .venv/node/node_modules/.bin/configurable-http-proxy ]; then
  mkdir -p .venv/node
  npm install --silent --no-audit --no-fund --prefix .venv/node configurable-http-proxy@4 >/dev/null
fi
ln -sf ../node/node_modules/.bin/configurable-http-proxy .venv/bin/configurable-http-proxy
for tool in fls icat mmls fsstat istat tshark fsck.fat e2fsck ewfacquire ewfverify ewfinfo faketime dcfldd xz file modinfo cpio zstd; do
  command -v "$tool" >/dev/null || { echo "install-deps: $tool is still missing" >&2; exit 1; }
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "install-deps: PostgreSQL's initdb is missing" >&2; exit 1; }
[ -x /usr/lib/chromium/chromium ] || { echo "install-deps: Debian's Chromium (/usr/lib/chromium/chromium) is missing" >&2; exit 1; }
.venv/bin/configurable-http-proxy --version >/dev/null || { echo "install-deps: configurable-http-proxy broken" >&2; exit 1; }
.venv/bin/python -c "import pytsk3, pyewf, pyvhdi, pyvmdk, pyqcow, scapy, volatility3, jupyterhub, dockerspawner, psycopg2, playwright" || { echo "install-deps: Python stack broken" >&2; exit 1; }
