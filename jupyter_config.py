"""JupyterLab server settings for one trainee's lab container.

The image copies this file to /etc/dflab/jupyter_config.py and starts ``jupyter lab --config=`` with it.
It deliberately does not live in /etc/jupyter: every Jupyter command (``jupyter nbconvert`` in a
trainee's terminal, ``jupyter labextension list`` when inspecting the image) loads that directory, and the
token rule below must stop only the server, not every tool.

Under JupyterHub (DockerSpawner runs ``jupyterhub-singleuser --config=`` with this file; see
dflab/hub/config.py) the hub authenticates every request with OAuth and tells the server where to listen
(JUPYTERHUB_SERVICE_URL), so the token and listening settings below apply to standalone labs only; the
rest (workspace, nbgrader, kernel culling) is the same in both.

The container is the isolation boundary (non-root, no capabilities, no outbound network); these
settings keep the server itself from widening it.
"""

import os
import sys

c = get_config()  # noqa: F821 -- traitlets injects get_config() when it loads this file

# Set by JupyterHub's spawner for the single-user server it starts; a trainee cannot set it for a server
# that is already running, and a standalone lab is started by the operator without it.
UNDER_HUB = bool(os.environ.get("JUPYTERHUB_SERVICE_URL"))

if not UNDER_HUB:
    # A lab server without a token would hand a shell to whoever reaches the published port. Each trainee
    # gets their own token from the lab operator; with none, refuse to start instead of generating a
    # random one that nobody is told (SystemExit is not swallowed by traitlets' config-file error handling).
    # Under the hub, setting a token here would add a second way in beside the hub's OAuth: never do it.
    _token = os.environ.get("DFLAB_TOKEN", "")
    if not _token:
        sys.exit(
            "jupyter_config: DFLAB_TOKEN is empty or unset; refusing to start a lab server without a token"
        )
    c.IdentityProvider.token = _token

    # 0.0.0.0 is inside the container's own network namespace: the host decides what reaches it
    # (`-p 127.0.0.1::8888`, or a hub's proxy). Requests therefore never come from the container's
    # loopback, so the remote-access check would only get in the way.
    c.ServerApp.ip = "0.0.0.0"
    c.ServerApp.port = 8888
    # Fail rather than silently move to a port nobody published.
    c.ServerApp.port_retries = 0
    c.ServerApp.allow_remote_access = True

# Same-origin only: no other web page may script a trainee's server with their cookie.
c.ServerApp.allow_origin = ""
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/home/trainee/work"
# Trainees need a terminal for The Sleuth Kit CLI, tshark and vol.
c.ServerApp.terminals_enabled = True
# Labs are offline and trainees install nothing: no PyPI extension manager (it would look PyPI up).
c.LabApp.extension_manager = "readonly"

# A room full of forgotten kernels each holding a memory image exhausts the host: shut down kernels
# idle for an hour, even with a browser tab still open.
c.MappingKernelManager.cull_idle_timeout = 3600
c.MappingKernelManager.cull_interval = 300
c.MappingKernelManager.cull_connected = True
c.MappingKernelManager.cull_busy = False

# Server extensions: nbgrader's Validate button answered by dflab (what the notebook records, never nbgrader's
# "passes all the tests"), no exchange, formgrader or language servers; the list and the reasons are in
# dflab/labserver.py, shared with the local backend.
from dflab.labserver import LAB_SERVER_EXTENSIONS, LAB_SETTINGS_DIR  # noqa: E402 -- config files run top to bottom

c.ServerApp.jpserver_extensions = dict(LAB_SERVER_EXTENSIONS)
# What trainees see of JupyterLab: no instructor menus of nbgrader's, no news prompt (dflab/labserver.py).
c.LabApp.app_settings_dir = str(LAB_SETTINGS_DIR)
