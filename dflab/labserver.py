"""A Jupyter server extension for trainee labs: nbgrader's *Validate* button, answered by dflab.

The button (nbgrader's lab extension, unchanged: the trainee presses the same button and sees the same dialog)
calls two routes, ``/nbgrader_version`` and ``/assignments/validate``. nbgrader's own handler for the second runs
the notebook and says "Success! Your notebook passes all the tests" when no test cell fails; in a dflab lab
every test cell only records an answer (its *shape* checked in the kernel) and correctness is decided at grading,
outside the kernel, so that message told trainees wrong answers had passed. dflab serves both routes itself:

* ``POST /assignments/validate`` (``path`` as a query argument or in a JSON body, as nbgrader takes it) reads
  the saved notebook and the ``lab.yaml`` beside it through the server's contents manager and answers with
  :func:`dflab.lab.recorded.report`: which answers are recorded and well formed, which are missing or malformed
  and why, as of each cell's last run, and that grading checks them. It runs no code and never decides
  correctness (the key is never in a lab).
* ``GET /nbgrader_version`` compares the button's version with the installed nbgrader's, as nbgrader's does.

Neither imports nbgrader: its ``validate_assignment`` extension costs one second of CPU and about 40 MiB in
every trainee's lab (measured in the trainee image), paid 30 times by a cohort of 30 labs on one machine.
nbgrader's ``assignment_list``, ``course_list`` and ``formgrader`` stay off in labs too: dflab collects
submissions from the workspace (``dflab session collect``), not through nbgrader's exchange, and grading belongs
to the instructor. Every trainee lab server (the image's jupyter_config.py, the local backend) enables exactly
``LAB_SERVER_EXTENSIONS``.
"""

from __future__ import annotations

import json
import posixpath
from importlib import metadata
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

LAB_FILE = "lab.yaml"

# The server extensions of a trainee's lab. Each costs start-up CPU and memory in every lab of a cohort
# (measured in the trainee image, per server: nbgrader's extensions 1 s of CPU and 41 MiB). Validate is
# dflab's (above); fetching and submitting through nbgrader's exchange (assignment_list, course_list) is not how
# dflab collects work (`dflab session collect` reads the workspace), grading belongs to the instructor
# (formgrader), and jupyter_lsp serves language servers, none of which is installed: those stay off.
# What a trainee sees of JupyterLab (``LabApp.app_settings_dir``, set by every trainee lab server): nbgrader's
# instructor front end off (its Nbgrader menu with Formgrader, Create Assignment in the property inspector, the
# assignment and course lists: what they open is not served in a lab anyway), its Validate button kept; no
# "official Jupyter news" prompt and no update check (a lab is offline, and its trainee installs nothing).
LAB_SETTINGS_DIR = Path(__file__).resolve().parent / "labsettings"

LAB_SERVER_EXTENSIONS = {
    "dflab.labserver": True,
    "nbgrader.server_extensions.validate_assignment": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "jupyter_lsp": False,
}


class ValidateHandler(JupyterHandler):
    """``POST /assignments/validate``: what the saved notebook records, in the JSON nbgrader's button shows."""

    auth_resource = "contents"

    @web.authenticated
    @authorized("read")  # it only reads the notebook and lab.yaml: the trainee's contents, as opening them does
    async def post(self) -> None:
        path = self.get_argument("path", None)
        if path is None:
            body = self.get_json_body()
            path = body.get("path") if isinstance(body, dict) else None
        if not isinstance(path, str) or not path.strip("/"):
            raise web.HTTPError(400, "path: the notebook to validate is required")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(await self.validate(path.strip("/"))))

    async def validate(self, path: str) -> dict[str, Any]:
        # Imported here, on the first press, not when every lab server starts (see the module docstring).
        from dflab.lab.recorded import not_validated, validation_result

        cm = self.contents_manager
        try:
            nb = (await ensure_async(cm.get(path, content=True, type="notebook")))["content"]
        except web.HTTPError as exc:
            return not_validated(f"{path}: cannot read the notebook ({exc.log_message or exc.reason})")
        lab_path = posixpath.join(posixpath.dirname(path), LAB_FILE)
        try:
            lab = await ensure_async(cm.get(lab_path, content=True, type="file", format="text"))
        except web.HTTPError as exc:
            if exc.status_code != 404:
                return not_validated(f"{lab_path}: cannot read the lab's metadata ({exc.log_message or exc.reason})")
            lab = None
        result = validation_result(nb, lab["content"] if lab else None, path)
        self.log.info("dflab.labserver: Validate %s: %s", path, "reported" if result["success"] else result["value"])
        return result


class VersionHandler(JupyterHandler):
    """``GET /nbgrader_version?version=``: whether the Validate button matches the installed nbgrader."""

    @web.authenticated
    def get(self) -> None:
        ui_version = self.get_argument("version")
        try:
            server_version = metadata.version("nbgrader")
        except metadata.PackageNotFoundError:
            server_version = "not installed"
        if ui_version == server_version:
            result: dict[str, Any] = {"success": True}
        else:
            result = {"success": False, "message": f"The Validate button is nbgrader {ui_version} but the lab server "
                                                   f"has nbgrader {server_version}; ask your instructor to rebuild "
                                                   "the lab environment."}
            self.log.error("dflab.labserver: %s", result["message"])
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dflab.labserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base_url, "/assignments/validate"), ValidateHandler),
                                           (url_path_join(base_url, "/nbgrader_version"), VersionHandler)])
    serverapp.log.info("dflab.labserver: Validate lists the answers a notebook records (nbgrader's button, "
                       "dflab's handler)")
