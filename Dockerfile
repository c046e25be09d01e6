# The trainee lab image: JupyterLab with nbgrader, volatility3, pytsk3, scapy, The Sleuth Kit CLI,
# tshark, ewf-tools, dcfldd and dflab, run as the non-root user `trainee`.
#
# Build with build-image.sh (it serves the wheelhouse, made by environments/docker/wheelhouse.sh, to the install step),
# here with a local base image:
#   environments/docker/build-image.sh /var/tmp/dflab-wheelhouse dflab/trainee --build-arg BASE_IMAGE=dflab/base:bookworm
# Run (evidence read-only, token required, no outbound network):
#   docker run -e DFLAB_TOKEN=... -v EVIDENCE:/evidence:ro -p 127.0.0.1:8888:8888 dflab/trainee
#
# Only classic builder features are used (no BuildKit mounts): some lab machines have no buildx.

# Public default for real users; tests and offline machines pass the debootstrap-made dflab/base:bookworm.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# One stage. The wheels reach the install step over loopback (build-image.sh serves the wheelhouse on 127.0.0.1
# and builds with `--network host`), never through the build context: no wheel lands in a layer, and the 750 MB
# virtual environment is written and committed once. (With the wheels copied in, a separate stage was needed to
# keep them out of the image, and copying its venv across cost two more passes over 40,000 files: minutes of a
# from-scratch build.)
FROM ${BASE_IMAGE}
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The local base already carries these Debian tools (environments/docker/base-image.sh, PACKAGES); a public Python
# image does not, so they are installed here (this is the only step that needs network, and only on that path).
# tshark must not give non-root users capture rights, hence the preseed.
RUN set -eu; missing=""; \
    command -v fls >/dev/null 2>&1 || missing="$missing sleuthkit"; \
    command -v tshark >/dev/null 2>&1 || missing="$missing tshark"; \
    command -v ewfacquire >/dev/null 2>&1 || missing="$missing ewf-tools"; \
    command -v dcfldd >/dev/null 2>&1 || missing="$missing dcfldd"; \
    command -v tini >/dev/null 2>&1 || missing="$missing tini"; \
    command -v ps >/dev/null 2>&1 || missing="$missing procps"; \
    command -v ss >/dev/null 2>&1 || missing="$missing iproute2"; \
    command -v strings >/dev/null 2>&1 || missing="$missing binutils"; \
    if [ -n "$missing" ]; then \
      echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    fls -V; tshark -v >/dev/null; ewfacquire -V >/dev/null; dcfldd --version >/dev/null; tini --version; \
    ps --version >/dev/null; ss -V >/dev/null; strings --version >/dev/null

# uid 1000 matches the usual first user on the host, so bind-mounted work directories stay writable.
# /evidence is only a mount point: evidence (with its volatility3 symbol tables) is mounted read-only.
RUN useradd --uid 1000 --user-group --create-home --home-dir /home/trainee --shell /bin/bash trainee \
 && mkdir -p /home/trainee/work /evidence \
 && chown trainee:trainee /home/trainee/work

# The wheelhouse's requirements and the digest of every wheel: the cache key of the install step below (the wheels
# themselves are not in the context), so a changed wheel set installs again.
COPY wheelhouse/requirements.txt wheelhouse/deps.sha256 /tmp/wheelhouse/
ARG WHEELHOUSE_URL
RUN test -n "$WHEELHOUSE_URL" || { echo "WHEELHOUSE_URL is unset: build with environments/docker/build-image.sh" >&2; exit 1; } \
 && python3 -m venv /opt/dflab \
 && /opt/dflab/bin/pip install --no-index --find-links "$WHEELHOUSE_URL/deps/" -r /tmp/wheelhouse/requirements.txt \
 # Trainees validate; collection reads their workspace (no nbgrader exchange), creating assignments and
 # grading are the instructor's: those nbgrader lab plugins are switched off for everyone using this
 # environment (their server extensions are off in jupyter_config.py).
 && /opt/dflab/bin/jupyter labextension disable --level=sys_prefix \
      @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment @jupyter/nbgrader:course-list \
      @jupyter/nbgrader:assignment-list @jupyter/nbgrader:menu \
 # jsonschema builds an IRI grammar (lark) at import when rfc3987-syntax is installed: 2.6 s of CPU in every
 # process that imports nbformat, a JupyterLab server included. Without it, jsonschema skips the "iri"
 # format check, which no notebook or Jupyter event schema uses; `pip check` stays clean (an extra's
 # dependency, not a requirement).
 && /opt/dflab/bin/pip uninstall -y rfc3987-syntax lark
# dflab changes far more often than its dependencies: its wheel gets its own small layer, installed
# without dependencies (they are all in the venv already; `pip check` proves it).
COPY wheelhouse/dflab/ /tmp/dflab-wheel/
RUN /opt/dflab/bin/pip install --no-index --no-deps /tmp/dflab-wheel/dflab-*.whl \
 && /opt/dflab/bin/pip check \
 && rm -rf /tmp/dflab-wheel
COPY jupyter_config.py /etc/dflab/jupyter_config.py

ENV PATH=/opt/dflab/bin:$PATH
USER trainee
WORKDIR /home/trainee/work
EXPOSE 8888
# /api answers without a token, so the check needs no secret.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=4)"]
# tini as PID 1 reaps the zombies that kernels and terminals leave behind and forwards signals. It and all it starts
# run under dflab's no-ptrace filter (dflab/noptrace.py; why, and where else: dflab/provision/trainee_container.py's
# SERVE_ARGV).
ENTRYPOINT ["/opt/dflab/bin/python", "-I", "-m", "dflab.noptrace", "tini", "--"]
CMD ["jupyter", "lab", "--config=/etc/dflab/jupyter_config.py"]
