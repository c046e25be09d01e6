"""What dflab says to a trainee, in their language (issue #16 item 6): the messages of ``dflab.lab`` (answer(),
check(), the answer form, the Validate report) and the instant checker's refusals come from ``dflab.po`` catalogs,
every one translated in French and Spanish with its ``{fields}`` kept; a kernel started with ``DFLAB_LANG=fr`` says
them in French (a real ipykernel), one without it in English as before."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dflab.i18n.catalog import read_catalog
from dflab.i18n.lang import LANG_ENV
from dflab.i18n.messages import TEMPLATE, extract, untranslated
from dflab.i18n.review import translation_problems
from dflab.lab.check import NO_CHECKER, CheckError, check
from dflab.lab.form import MESSAGES
from dflab.lab.messages import catalog_path, gettext
from dflab.lab_meta import for_trainees

REPO = Path(__file__).resolve().parents[1]
LANGS = ("fr", "es")


def test_the_template_holds_every_marked_message() -> None:
    template = read_catalog(TEMPLATE)
    assert [m.id for m in template if m.id] == [m.id for m in extract() if m.id], \
        "dflab/lab/locale/dflab.pot is out of date: run dflab.i18n.messages.update_message_catalogs()"
    ids = {m.id for m in extract() if m.id}
    assert set(MESSAGES.values()) <= ids and NO_CHECKER in ids and "checked when graded" in ids  # the checker's
    assert "(not recorded)" in ids  # a message built around an f-string is still extracted


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_is_translated_with_its_fields(lang: str) -> None:
    assert untranslated(lang) == []
    assert catalog_path(lang).stat().st_mode & 0o444 == 0o444  # a confined trainee's kernel reads it as another uid
    catalog = read_catalog(catalog_path(lang), lang)
    problems = [f"{m.id!r}: {p}" for m in catalog if m.id for p in translation_problems(m.id, m.string, False)]
    assert not problems, "\n".join(problems)
    for m in catalog:  # answer() errors start with the answer's name: the Validate report reads it back so
        if m.id and m.id.startswith("{name}: "):
            assert m.string.startswith("{name}"), m.string


def test_a_missing_translation_is_the_english_text() -> None:
    assert gettext("Check", "fr") == "Vérifier" and gettext("Check", "es") == "Comprobar"
    assert gettext("Check", "en") == "Check" and gettext("not a message dflab has", "fr") == "not a message dflab has"


def run_in_kernel(folder: Path, code: str, monkeypatch: pytest.MonkeyPatch, lang: str | None) -> dict:
    """``code`` (printing one JSON value) run by a real ipykernel in ``folder``, with ``DFLAB_LANG=lang`` or none."""
    if lang is None:
        monkeypatch.delenv(LANG_ENV, raising=False)
    else:
        monkeypatch.setenv(LANG_ENV, lang)
    monkeypatch.delenv("DFLAB_CHECK_SOCKET", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    [out] = [o for o in nb.cells[0].outputs if o.get("name") == "stdout"]
    return json.loads(out["text"])


KERNEL = """
import json
from dflab.lab import AnswerError, answer, answer_form
from dflab.lab.check import CheckError, check
said = {}
try:
    answer('payload_inode', 'twelve')
except AnswerError as exc:
    said['answer'] = str(exc)
    said['traceback'] = exc._render_traceback_()
try:
    check('payload_inode', 12)
except CheckError as exc:
    said['check'] = str(exc)
form = answer_form('deleted')
said['button'] = form.button.description
form.fields['payload_inode'].value = '12'
said['saved'] = form.status.value
form.check()
said['note'] = form.notes['payload_inode'].value
print(json.dumps(said, ensure_ascii=False))
"""


@pytest.mark.parametrize(("lang", "expect"), [
    (None, {"answer": "payload_inode: expected a whole number, got str",
            "check": "this lab has no instant checker: your answers are checked when your work is graded",
            "button": "Check", "note": MESSAGES["no_checker"], "not_recorded": "(not recorded)"}),
    ("fr", {"answer": "payload_inode : nombre entier attendu, reçu str",
            "check": "ce TP n'a pas de vérification immédiate : vos réponses seront vérifiées à la correction",
            "button": "Vérifier", "note": gettext(MESSAGES["no_checker"], "fr"), "not_recorded": "(non enregistré)"}),
    ("es", {"answer": "payload_inode: se esperaba un número entero, se recibió str",
            "check": "esta práctica no tiene verificación inmediata: sus respuestas se verifican en la corrección",
            "button": "Comprobar", "note": gettext(MESSAGES["no_checker"], "es"), "not_recorded": "(no registrado)"}),
])
def test_the_kernel_speaks_the_trainees_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 lang: str | None, expect: dict) -> None:
    lab = REPO / "labs" / "02-disk"
    (tmp_path / "lab.yaml").write_text(for_trainees((lab / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml"),
                                       encoding="utf-8")
    said = run_in_kernel(tmp_path, KERNEL, monkeypatch, lang)
    assert said["answer"] == expect["answer"]
    assert said["traceback"] == [f"AnswerError: {expect['answer']} {expect['not_recorded']}"]
    assert said["check"] == expect["check"] and said["button"] == expect["button"]
    assert expect["note"] in said["note"].replace("&#x27;", "'")
    if lang is not None:  # and the English text is really gone
        assert "expected" not in said["answer"] and "Check" != said["button"]


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A checker that refuses every check with the real checker's lines (dflab/checker/service.py) and statuses."""

    replies: list[tuple[int, str]] = []

    def do_POST(self) -> None:  # noqa: N802 -- http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status, line = self.replies.pop(0)
        body = json.dumps({"error": line}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("checker", 0)  # http.server logs a (host, port) address


def test_the_checkers_refusals_are_said_in_the_kernels_language(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker serves every trainee in English; ``check()`` says each refusal it relays in the kernel's
    language, with the checker's own line translated inside it."""
    (tmp_path / "lab.yaml").write_text(for_trainees((REPO / "labs" / "02-disk" / "lab.yaml").read_text(
        encoding="utf-8"), "lab.yaml"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    socket_path = str(tmp_path / "check.sock")
    server = _UnixHTTPServer(socket_path, _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DFLAB_CHECK_SOCKET", socket_path)
    said = {}
    try:
        for lang in ("en", "fr", "es"):
            monkeypatch.setenv(LANG_ENV, lang)
            _Refusing.replies[:] = [(503, "your evidence is still being built: try again in a minute"),
                                    (400, "not an answer of this lab")]
            for _ in range(2):
                with pytest.raises(CheckError) as raised:
                    check("payload_inode", 12)
                said.setdefault(lang, []).append(str(raised.value))
    finally:
        server.shutdown()
        server.server_close()
    assert said["en"] == ["payload_inode: your evidence is still being built: try again in a minute",
                          "payload_inode: the checker refused the value (not an answer of this lab)"]
    assert said["fr"] == ["payload_inode: vos éléments de preuve sont encore en préparation : réessayez dans une "
                          "minute", "payload_inode : le vérificateur a refusé la valeur (pas une réponse de ce TP)"]
    assert said["es"] == ["payload_inode: sus evidencias todavía se están preparando: inténtelo dentro de un minuto",
                          "payload_inode: el verificador rechazó el valor (no es una respuesta de esta práctica)"]
