"""Which language a trainee works in, said once: the roster's ``lang``, the kernel's ``$DFLAB_LANG``, the handout.

Standard library only: the roster, the backends and the trainee's kernel all import it.

English is the labs' source language and the default; a trainee in another language gets the same lab with its
prose, hints and messages from the catalogs (``dflab.i18n.catalog``), the same answers and the same grading.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from dflab.errors import DflabError

DEFAULT_LANG = "en"
LANGUAGES = ("en", "fr", "es")  # English (the source) and the translations dflab's labs ship
STATE_KEY = "lang"  # in a TraineeEnv's state: the session's word on the trainee's language, for the backend
LANG_ENV = "DFLAB_LANG"  # set by the backends in a trainee's lab, read by dflab.lab's messages
# JupyterLab's own names for its language packs (jupyterlab-language-pack-fr-FR, ...): the UI's locale setting.
JUPYTERLAB_LOCALES = {"fr": "fr_FR", "es": "es_ES"}
_TAG = re.compile(r"^(?P<lang>[A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{2,8})*(?:\.[A-Za-z0-9-]+)?$")


def normalise_lang(value: str, where: str) -> str:
    """``fr-FR``, ``es_ES``, ``FR``, ``fr_FR.UTF-8`` → ``fr``, ``es``; empty → ``en``; any other language is a
    :class:`DflabError` at ``where`` (a roster line)."""
    text = value.strip()
    if not text:
        return DEFAULT_LANG
    match = _TAG.match(text)
    lang = match.group("lang").lower() if match else ""
    if lang not in LANGUAGES:
        raise DflabError(f"lang {value!r} is not one of the labs' languages ({', '.join(LANGUAGES)})", where)
    return lang


def current_lang() -> str:
    """The kernel's language: ``$DFLAB_LANG`` when it names one dflab ships, else English (never an error: a
    message in English beats no message)."""
    try:
        return normalise_lang(os.environ.get(LANG_ENV, ""), LANG_ENV)
    except DflabError:
        return DEFAULT_LANG


def N_(message: str) -> str:  # noqa: N802 -- gettext's name for "translate later", which the extractor knows
    """Mark ``message`` for the trainee-facing catalog (``dflab.lab.messages``) without translating it here: the
    instant checker serves every trainee in English, and each trainee's kernel says its refusals in their language."""
    return message


def of_state(state: Mapping[str, object]) -> str:
    """A trainee's language as their session passes it to a backend (``TraineeEnv.state["lang"]``, set only for a
    language other than English), English when absent or not one dflab ships."""
    lang = state.get(STATE_KEY)
    return lang if isinstance(lang, str) and lang in LANGUAGES else DEFAULT_LANG


def localised(folder: Path, lang: str) -> Path:
    """Where the ``lang`` copy of a course folder lives: ``release`` → ``release-fr``, ``handout`` → ``handout-fr``;
    English is ``folder`` itself, so an English-only course is laid out as it always was."""
    return folder if lang == DEFAULT_LANG else folder.with_name(f"{folder.name}-{lang}")


def lab_settings(base: Path, lang: str) -> Path:
    """JupyterLab's app settings folder for ``lang``: ``base`` (dflab/labsettings/) for English, else its ``<lang>/``
    copy, the same settings with ``@jupyterlab/translation-extension:plugin`` ``locale`` set to the language pack's
    (``fr_FR``): the trainee's JupyterLab opens in their language (they can still switch it in its Settings menu).

    One more difference: the copy's ``page_config.json`` also switches off nbgrader's Validate button
    (``@jupyter/nbgrader:validate-assignment``). Its label, tooltip and dialog chrome ("Validate", "Validating...",
    "Validation Results", "The following cell failed:") are English literals in nbgrader's labextension (0.9.6 asks
    no ``ITranslator``, and no language pack has an ``nbgrader`` domain), so no catalog can translate them. Every
    step of the translated labs has an answer form that tells, in the trainee's language, more than Validate's
    list of recorded answers: each answer right or wrong, hints after a wrong try, an empty field or a refused value
    in one line. An English lab keeps the button (tests/test_validate_button.py).
    """
    return base if lang == DEFAULT_LANG else base / lang


def lab_settings_option(lang: str) -> str:
    """The server option that opens a container's JupyterLab in ``lang`` (:func:`lab_settings` in the image), as
    ``sh`` text to append to the command that starts it; empty for English, whose settings the image's
    jupyter_config.py already names.

    The folder is found by the image's own Python when the container starts (``$(python -I -c ...)``): where dflab
    is installed in the image is the image's business, and the host that renders the command (a session's docker
    backend, the hub's config) does not know it. ``lang`` is one of :data:`LANGUAGES`, never free text in a shell.
    """
    if lang == DEFAULT_LANG:
        return ""
    if lang not in LANGUAGES:
        raise ValueError(f"not one of the labs' languages: {lang!r}")
    return (' --LabApp.app_settings_dir="$(python -I -c \'import dflab, os; print(os.path.dirname(dflab.__file__))\')'
            f'/labsettings/{lang}"')
