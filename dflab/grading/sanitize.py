"""What a submission produced, made safe to show: HTML for the instructor's browser, text for terminals and logs.

A submission is hostile (issue #13). Two things it controls reach the instructor:

* **HTML.** nbgrader's formgrader and ``generate_feedback`` render the autograded notebook with nbconvert's
  HTMLExporter, which does not sanitise: ``<script>``, ``<img onerror>``, ``application/javascript`` and SVG
  outputs, raw HTML and ``javascript:`` links in markdown would run on the instructor's Jupyter origin.
  :class:`SanitizeSubmission` (nbconvert's own ``SanitizeHTML`` with dflab's policy) runs in the autograde
  pipeline, so the *stored* autograded notebook both of them render is clean, and again before feedback.
* **Text.** Reasons, trainee ids and log lines that end in a terminal, a worker log, the status table or the
  CSV can carry ESC/OSC sequences (window title, OSC 52 clipboard writes, cursor moves, a fake
  ``mallory: done 13/13`` line). :func:`printable` is the one rule: every character a terminal could act on
  is shown as its Python escape (``\\x1b``, ``\\x9b``, ``\\u202e``), as ``validate.shown`` shows file names.
"""

from __future__ import annotations

import io
import logging
import math
import re
import time
from typing import Any
from urllib.parse import unquote

import bleach
from bleach.html5lib_shim import Filter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.filters.strings import strip_files_prefix
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat.notebooknode import NotebookNode
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, List, Set, Unicode

from dflab.lab.answers import ANSWER_MIME

# -- text for terminals, logs, the status table and the CSV -------------------------------------------------------


def printable(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable (C0 and C1 controls, DEL, bidi and other format
    characters, line separators, lone surrogates) shown as its Python escape, except those in ``keep``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` as one printable line (newlines escaped too), cut to ``limit`` characters with an ellipsis."""
    line = printable(str(text))
    return line if limit is None or len(line) <= limit else line[:limit - 1] + "…"


TRACEBACK = "Traceback (most recent call last):"


class PrintableStream(io.TextIOBase):
    """A text stream that writes what it is given through :func:`printable`, keeping newlines and tabs.

    A grading worker's stdout and stderr are its log file: whatever of a submission a library prints there
    arrives as text, never as terminal control sequences.
    """

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw

    def write(self, s: str) -> int:
        self._raw.write(printable(s, keep="\n\t"))
        return len(s)

    def flush(self) -> None:
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._raw, "encoding", "utf-8"))

    def writable(self) -> bool:
        return True


class PrintableLogFilter(logging.Filter):
    """Make every record of a logger printable: the message on one line, tracebacks with their newlines only
    (nbgrader logs a failure's ``traceback.format_exc()`` as the message; ``worker.failure_reason`` reads it).

    nbgrader logs what dflab's preprocessors say about a submission (a sandbox's last log line, a cell's
    error), and prints it to the instructor's terminal when ``nbgrader autograde`` runs by hand.
    """

    _format = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = printable(message, keep="\n\t") if message.startswith(TRACEBACK) else one_line(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._format.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = printable(record.exc_text, keep="\n\t")
        if record.stack_info:
            record.stack_info = printable(record.stack_info, keep="\n\t")
        return True


def printable_log(log: logging.Logger | logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
    """Install :class:`PrintableLogFilter` on ``log`` (once)."""
    logger = log.logger if isinstance(log, logging.LoggerAdapter) else log
    if not any(isinstance(f, PrintableLogFilter) for f in logger.filters):
        logger.addFilter(PrintableLogFilter())


# -- HTML for the instructor's browser ------------------------------------------------------------------------------

# What a text/html output may hold: what pandas and rich display (tables, text, lists), never scripts, event
# handlers, forms, frames, images (a remote image tells the sender when the instructor looks), styles (CSS
# url() fetches too) or ids (they clobber the page's globals).
HTML_TAGS = frozenset(bleach.ALLOWED_TAGS) | {
    "p", "div", "span", "pre", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tfoot",
    "tr", "th", "td", "caption", "colgroup", "col", "sub", "sup", "small", "dl", "dt", "dd", "del", "ins", "kbd",
    "samp", "var", "s", "u", "q", "cite", "tt"}
CELL_ATTRS = ["colspan", "rowspan", "align", "valign"]
HTML_ATTRIBUTES = {"*": ["class", "title"], "a": ["href", "title"], "table": ["border"], "th": CELL_ATTRS,
                   "td": CELL_ATTRS, "col": ["span"], "colgroup": ["span"], "ol": ["start", "type"]}
HTML_PROTOCOLS = frozenset(bleach.ALLOWED_PROTOCOLS)  # http, https, mailto
# bleach and mistune take time quadratic in some inputs (300 KB of HTML: 20-40 s; 30 KB of "[": 26 s), and this
# runs outside the sandbox: larger items are not parsed (an output is removed, a markdown cell shown as text), and
# after BUDGET_S of one notebook neither is anything else. A lab's own outputs take well under a second.
MAX_HTML_CHARS = 128 << 10
MAX_MARKDOWN_CHARS = 32 << 10
BUDGET_S = 60.0
IMAGE_MIMES = ("image/png", "image/jpeg")
NOTE = "[dflab: {what} removed: active content is not shown to graders]"
QUOTED = ("*dflab: this cell held raw HTML or a link that is not http(s)/mailto (or was too large to check), which "
          "graders are not shown; its text as written:*\n\n")


class _DropStyle(Filter):
    """Drop ``<style>`` elements with their content: pandas puts one before every table, and CSS shown as text
    is noise (the sanitiser lets the tag through only so that this filter sees where it ends)."""

    def __iter__(self) -> Any:
        depth = 0
        for token in super().__iter__():
            if token.get("name") == "style" and token["type"] in ("StartTag", "EndTag", "EmptyTag"):
                depth = max(0, depth + {"StartTag": 1, "EndTag": -1}.get(token["type"], 0))
                continue
            if not depth:
                yield token


SAFE_SCHEMES = ("http:", "https:", "mailto:", "data:image/png;", "data:image/jpeg;", "data:image/gif;",
                "data:image/webp;")


def safe_target(url: str) -> bool:
    """Whether a link or image target is harmless once shown: a relative URL, or one of :data:`SAFE_SCHEMES`.

    Judged as a browser would read it after nbconvert's ``strip_files_prefix`` (``files/javascript:...`` is
    ``javascript:...`` in the page): percent-escapes decoded, ASCII whitespace and controls dropped, any case.
    """
    bare = re.sub(r"^/?files/", "", url)
    for _ in range(3):
        bare = unquote(bare)
    bare = re.sub(r"[\x00-\x20\x7f]", "", bare).lower()
    return bare.startswith(SAFE_SCHEMES) or ":" not in re.split(r"[/?#]", bare, maxsplit=1)[0]


class _StrictRenderer(IPythonRenderer):
    """nbconvert's markdown renderer as it would be if it were safe: raw HTML escaped, links and images only to
    :func:`safe_target`, mermaid blocks as plain code. (mistune 3 calls ``sanitize_url`` or, before 3.1,
    ``safe_url`` for a target: both are decided here.)"""

    def __init__(self, attachments: dict[str, Any] | None) -> None:
        super().__init__(escape=True, allow_harmful_protocols=False, attachments=attachments)

    def sanitize_url(self, url: str) -> str:
        return url if safe_target(url) else "#harmful-link"

    def safe_url(self, url: str) -> str:
        return super().safe_url(url) if safe_target(url) else "#harmful-link"

    def block_mermaidjs(self, code: str) -> str:
        return super().block_code(code)


def markdown_is_safe(source: str, attachments: dict[str, Any] | None = None) -> bool:
    """Whether ``source`` renders, in nbgrader's feedback and formgrader (nbconvert's ``markdown2html``, then
    ``strip_files_prefix``), exactly as it would with raw HTML escaped and unsafe links dropped.

    The question is put to the very renderer that shows the markdown, so no second parser can disagree with it
    about what is HTML; anything it cannot render (a missing attachment) or that is over
    :data:`MAX_MARKDOWN_CHARS` is not safe.
    """
    if not isinstance(source, str) or len(source) > MAX_MARKDOWN_CHARS:
        return False
    try:
        shown = MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments)).render(source)
        strict = MarkdownWithMath(renderer=_StrictRenderer(attachments)).render(source)
    except Exception:  # noqa: BLE001 -- mistune or nbconvert refusing it: then it is not shown as markdown
        return False
    return strip_files_prefix(shown) == strip_files_prefix(strict)


def quoted_markdown(source: str) -> str:
    """``source`` as a fenced code block under one line saying why: text, whatever it holds."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", source)), default=0))
    return f"{QUOTED}{fence}\n{source}\n{fence}\n"


def is_quoted(source: str) -> bool:
    """Whether ``source`` is exactly what :func:`quoted_markdown` makes (one fenced block no line of it can
    close): sanitising again, as feedback does, leaves it alone whatever its size."""
    if not source.startswith(QUOTED):
        return False
    block = re.fullmatch(r"(`{3,})\n(.*)\n\1\n", source[len(QUOTED):], re.DOTALL)
    return block is not None and all(len(run) < len(block[1]) for run in re.findall(r"`+", block[2]))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        and 0 < value < 100_000


def _image_metadata(meta: Any) -> dict[str, Any]:
    """What nbconvert's templates read of an image output's metadata, checked: ``width``/``height`` land in an
    unquoted attribute (``width=1 onerror=...``), so only numbers pass; nothing else is kept."""
    if not isinstance(meta, dict):
        return {}
    kept = {k: meta[k] for k in ("width", "height") if _number(meta.get(k))}
    if isinstance(meta.get("unconfined"), bool):
        kept["unconfined"] = meta["unconfined"]
    if isinstance(meta.get("alt"), str):
        kept["alt"] = meta["alt"]
    return kept


def output_metadata(meta: Any) -> dict[str, Any]:
    """An output's metadata reduced to what the HTML templates may read, each value checked."""
    kept = _image_metadata(meta)
    for mime in IMAGE_MIMES:
        per = _image_metadata(meta.get(mime) if isinstance(meta, dict) else None)
        if per:
            kept[mime] = per
    return kept


class SanitizeSubmission(SanitizeHTML):
    """nbconvert's ``SanitizeHTML`` with dflab's policy, for notebooks a trainee's code produced.

    * code outputs: ``text/plain``, PNG/JPEG, LaTeX (MathJax runs with its Safe extension), JSON and dflab's
      recorded answers (:data:`ANSWER_MIME`) pass; ``text/html`` is cleaned by bleach (tables and text pass,
      other tags are shown escaped, ``<style>`` dropped); ``text/markdown`` passes only when
      :func:`markdown_is_safe`; everything else (JavaScript, SVG, widgets, PDF, unknown types) is removed, with
      a one-line note when nothing else of the output is left; output metadata keeps only checked image sizes.
      Streams and errors are escaped by the templates and stay as they are, so scores never change.
    * markdown cells: kept when :func:`markdown_is_safe`, otherwise shown as their text
      (:func:`quoted_markdown`), attachments dropped. Raw cells: cleaned by bleach.
    * the notebook's ``widgets`` state (rendered by the widget manager the templates load) is dropped.

    Enabled by default (nbconvert's preprocessors are not). Constructing it also makes the log it writes to
    printable (:class:`PrintableLogFilter`): nbgrader's log carries the sandbox's reasons.
    """

    enabled = Bool(True, help="Whether to sanitise (nbconvert preprocessors are off by default; this one is on)."
                   ).tag(config=True)
    tags = List(Unicode(), default_value=sorted(HTML_TAGS), help="HTML tags text/html outputs and raw cells may "
                "hold; others are shown escaped.").tag(config=True)
    attributes = AnyTrait(default_value=HTML_ATTRIBUTES, help="Allowed attributes per tag (bleach's form)."
                          ).tag(config=True)
    safe_output_keys = Set(default_value={*SanitizeHTML.class_traits()["safe_output_keys"].default(), ANSWER_MIME},
                           help="Output types kept as they are.").tag(config=True)
    budget_s = Float(BUDGET_S, help="Seconds one notebook may spend parsing HTML and markdown; past them the "
                     "rest is removed or shown as text.").tag(config=True)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        printable_log(self.log)
        self._counts: dict[str, int] = {}
        self._deadline = 0.0
        self._bleach: bleach.Cleaner | None = None

    def sanitize_html_tags(self, html_str: str) -> str:
        if self._bleach is None:
            self._bleach = bleach.Cleaner(tags=set(self.tags) | {"style"}, attributes=self.attributes,
                                          protocols=HTML_PROTOCOLS, strip=self.strip,
                                          strip_comments=self.strip_comments, filters=[_DropStyle])
        return self._bleach.clean(html_str)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        self._counts = {}
        self._deadline = time.monotonic() + self.budget_s
        if isinstance(nb.get("metadata"), dict) and "widgets" in nb.metadata:
            del nb.metadata["widgets"]
            self._count("widget states removed")
        nb, resources = super().preprocess(nb, resources)
        if self._counts:
            self.log.info("sanitised for graders: %s", ", ".join(f"{n} {what}" for what, n in sorted(
                self._counts.items())))
        return nb, resources

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def _in_time(self) -> bool:
        if time.monotonic() <= self._deadline:
            return True
        self._count(f"items past the {self.budget_s:g} s budget")
        return False

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any],
                        cell_index: int) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type == "markdown":
            if is_quoted(cell.source):
                cell.pop("attachments", None)
            elif not (self._in_time() and markdown_is_safe(cell.source, cell.get("attachments"))):
                cell.source = quoted_markdown(cell.source)
                cell.pop("attachments", None)
                self._count("markdown cells shown as text")
        elif cell.cell_type == "raw":
            cleaned = self._html(cell.source)
            if cleaned != cell.source:
                cell.source = cleaned if cleaned is not None else ""
                self._count("raw cells cleaned")
        elif cell.cell_type == "code":
            cell.outputs = self.sanitize_code_outputs(cell.get("outputs", []))
        return cell, resources

    def _html(self, text: Any) -> str | None:
        """``text`` cleaned, or None when it is not text, too long or past the budget."""
        if not isinstance(text, str) or len(text) > MAX_HTML_CHARS or not self._in_time():
            return None
        return self.sanitize_html_tags(text)

    def sanitize_code_outputs(self, outputs: list[Any]) -> list[Any]:
        for output in outputs:
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue  # streams and errors: escaped by the templates (ansi2html)
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            kept: dict[str, Any] = {}
            removed: list[str] = []
            for mime, value in data.items():
                text = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
                if mime in self.safe_output_keys:
                    kept[mime] = value
                elif mime == "text/markdown" and mime in self.sanitized_output_types:
                    if self._in_time() and markdown_is_safe(text):
                        kept[mime] = text
                    else:
                        removed.append(mime)
                elif mime == "text/html" and mime in self.sanitized_output_types:
                    cleaned = self._html(text)
                    if cleaned is None:
                        removed.append(mime)
                    else:
                        kept[mime] = cleaned
                        if cleaned != text:
                            self._count(f"{mime} outputs cleaned")
                else:
                    removed.append(mime)
            for mime in removed:
                self._count(f"{printable(mime)} outputs removed")
            if removed and not set(kept) - {ANSWER_MIME, "application/json"} \
                    and output["output_type"] == "display_data":
                kept["text/plain"] = NOTE.format(what=" and ".join(printable(m) for m in removed) + " output")
            output["data"] = kept
            output["metadata"] = output_metadata(output.get("metadata"))
        return outputs
