"""A step's answer form in the trainee's kernel: a labelled field per answer, a Check button, ✓/✗, hints in tiers.

Trainees who do not program type what a tool showed them into the form instead of writing Python. Three things
have to hold for that, and decide the design:

* **Checking is not recording.** Check asks the session's checker (:func:`dflab.lab.check`) about each filled
  field and shows ✓ or ✗; after a wrong try the step's next hint tier from lab.yaml appears (one per wrong try,
  in order, remembered in the kernel for the step even when the form is drawn again). A check that gets no
  verdict (too many tries, no checker, graded on hand-in) is one line under its field.
* **The grade still comes from the locked test cells.** Typing into a field sets the answer's variable in the
  kernel's namespace (``payload_inode = 1234``), converted by the answer's shape: ``int`` and ``number`` from
  digits, ``list`` from items separated by commas on one line, or one item a line (a line with commas is a row,
  such as ``download, 2026-01-01T00:00:00Z``), text otherwise. So the unchanged locked test cell
  ``answer('payload_inode', payload_inode)`` records it. The form's cell comes before the step's solution cell:
  an analyst's own code, run after it, wins.
* **Typed values survive a restart and reach grading**, which re-executes the notebook in a sandbox with no
  widget front end and no checker. Widget state saved in the notebook is not re-executed, and writing into a
  cell's source needs a front end; so each typed value is saved at once (atomically) to ``.answers/<lab id>.json``
  beside the notebook, a file of the lab folder that collection hands in with it. When the form's cell runs,
  anywhere, it reads that file and sets the variables again: the grader's run records what was typed.

Every trainee-facing string is in :data:`MESSAGES` or marked ``_()``: the kernel shows it in the trainee's language
(dflab.lab.messages); the lab's own labels, hints and choices come translated in lab.yaml (dflab.i18n.release).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.lab.answers import LAB_DIR_ENV, AnswerError
from dflab.lab.check import NO_CHECKER, CheckError, check
from dflab.lab.messages import N_, _
from dflab.lab_meta import LAB_FILE, MAX_LAB_BYTES, LabMeta, Step, parse_lab
from dflab.yamlfile import read_text

ANSWERS_DIR = ".answers"  # beside the notebook; hidden in JupyterLab's file browser, handed in with the lab folder
MAX_TYPED_CHARS = 4096  # per field: a typed answer, not a file
MAX_SAVED_BYTES = 256 * 1024

# In English, the catalog's msgids; shown through msg(), in the kernel's language (dflab.lab.messages).
MESSAGES = {
    "check": N_("Check"),
    "right": N_("✓ right"),
    "wrong": N_("✗ not yet"),
    "hint": N_("Hint {tier} of {tiers}: {text}"),
    "no_more_hints": N_("No more hints for this step: ask your instructor."),
    "no_checker": N_("Checks are not available here: your answers are saved and checked when your work is graded."),
    "saved": N_("Saved: the answer cells of this step record what you typed."),
    "nothing_typed": N_("Type an answer first."),
    "too_long": N_("At most {limit} characters."),
    "unsaved": N_("Could not save your answers ({why}); tell your instructor."),
}


def msg(key: str) -> str:
    """:data:`MESSAGES`' ``key`` in the kernel's language."""
    return _(MESSAGES[key])

_hint_tiers_shown: dict[tuple[str, str], int] = {}  # (lab id, step id) -> tiers shown; the kernel's memory


def lab_dir() -> Path:
    """The lab folder: ``$DFLAB_LAB_DIR`` or the working directory (the notebook's), as ``answer()`` finds it."""
    return Path(os.environ.get(LAB_DIR_ENV) or Path.cwd())


def load_meta(directory: Path) -> LabMeta:
    path = directory / LAB_FILE
    if not path.is_file():
        raise DflabError(_("no lab.yaml here: open the notebook from its lab folder"), str(directory))
    return parse_lab(read_text(path, MAX_LAB_BYTES, "lab metadata"), str(path))


def answers_file(directory: Path, lab_id: str) -> Path:
    return directory / ANSWERS_DIR / f"{lab_id}.json"


def read_typed(directory: Path, lab_id: str) -> dict[str, str]:
    """What was typed into the lab's forms (answer name -> text); nothing when the file is missing or unreadable
    (a file a trainee broke by hand costs their typed values, never their notebook)."""
    path = answers_file(directory, lab_id)
    try:
        if path.is_symlink() or path.stat().st_size > MAX_SAVED_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save_typed(directory: Path, lab_id: str, typed: dict[str, str]) -> None:
    path = answers_file(directory, lab_id)
    path.parent.mkdir(exist_ok=True)
    merged = {**read_typed(directory, lab_id), **typed}
    merged = {k: v for k, v in merged.items() if v.strip()}
    write_bytes(path, (json.dumps(merged, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8"))


def convert(text: str, shape: str) -> Any:
    """Typed text as the value ``answer()`` expects for ``shape``; text it cannot convert stays text, so that
    ``answer()`` says in its one line what is expected."""
    text = text.strip()
    if shape == "int":
        digits = text.replace(",", "").replace(" ", "").replace("_", "")
        try:
            return int(digits, 16) if digits.lower().startswith("0x") else int(digits, 10)
        except ValueError:
            return text
    if shape == "number":
        try:
            number = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if shape == "list":  # one item a line, a row of several parts when a line holds commas; or one line of items
        if "\n" not in text:
            return [item.strip() for item in text.split(",") if item.strip()]
        return [_row(line) for line in text.splitlines() if line.strip()]
    return text


def _row(line: str) -> str | list[str]:
    parts = [part.strip() for part in line.split(",")]
    return parts if len(parts) > 1 else parts[0]


class AnswerForm:
    """The form of one step; display it (the cell's last expression) to show it. ``value(name)`` is what typing
    made of answer ``name`` (converted), None when nothing was typed."""

    def __init__(self, meta: LabMeta, step: Step, directory: Path, namespace: dict[str, Any] | None,
                 choices: dict[str, dict[str, str]] | None = None) -> None:
        import ipywidgets as w

        self.meta, self.step, self.directory, self.namespace = meta, step, directory, namespace
        typed = read_typed(directory, meta.id)
        self.fields: dict[str, w.Text | w.Textarea | _Choices] = {}
        self.marks: dict[str, w.HTML] = {}
        self.notes: dict[str, w.HTML] = {}
        rows = []
        for name in step.answers:
            rule = meta.answers[name]
            if name in (choices or {}):
                field = _Choices(w, choices[name], rule.shape == "list", typed.get(name, ""), rule.field_label(name))
            elif rule.shape == "list" or rule.lines:
                field = w.Textarea(value=typed.get(name, ""), description=rule.field_label(name),
                                   continuous_update=False, rows=rule.lines or 4,
                                   style={"description_width": "16em"}, layout=w.Layout(width="46em"))
            else:
                field = w.Text(value=typed.get(name, ""), description=rule.field_label(name), continuous_update=False,
                               style={"description_width": "16em"}, layout=w.Layout(width="46em"))
            field.observe(lambda change, n=name: self._typed(n, change["new"]), names="value")
            self.fields[name], self.marks[name], self.notes[name] = field, w.HTML(), w.HTML()
            shown = field.widget if isinstance(field, _Choices) else field
            rows.append(w.VBox([w.HBox([shown, self.marks[name]]), self.notes[name]]))
        self.button = w.Button(description=msg("check"), button_style="primary")
        self.button.on_click(lambda _button: self.check())
        self.hint = w.HTML()
        self.status = w.HTML()
        self.widget = w.VBox([*rows, w.HBox([self.button, self.status]), self.hint])
        self._publish(typed)
        shown = _hint_tiers_shown.get((meta.id, step.id), 0)
        if shown:
            self._show_hint(shown)

    # -- values ----------------------------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        if name not in self.fields:
            raise AnswerError(_("{name} is not an answer of step {step}; expected one of {names}").format(
                name=repr(name), step=repr(self.step.id), names=", ".join(self.fields)))
        text = self.fields[name].value
        return convert(text, self.meta.answers[name].shape) if text.strip() else None

    def _publish(self, typed: dict[str, str]) -> None:
        """Set each typed answer's variable in the kernel's namespace (what the locked test cell records)."""
        if self.namespace is None:
            return
        for name in self.fields:
            if typed.get(name, "").strip():
                self.namespace[name] = self.value(name)

    def _typed(self, name: str, text: str) -> None:
        note = self.notes[name]
        self.marks[name].value = ""
        if len(text) > MAX_TYPED_CHARS:
            note.value = _line(msg("too_long").format(limit=MAX_TYPED_CHARS))
            return
        try:
            save_typed(self.directory, self.meta.id, {name: text})
        except (OSError, DflabError) as exc:
            note.value = _line(msg("unsaved").format(why=type(exc).__name__))
            return
        note.value = ""
        if self.namespace is not None:
            if text.strip():
                self.namespace[name] = self.value(name)
            else:
                self.namespace.pop(name, None)
        self.status.value = _line(msg("saved"))

    # -- checking --------------------------------------------------------------------------------------------
    def check(self) -> dict[str, bool | str | None]:
        """Check each filled field; returns name -> True/False, the one-line reason a check got no verdict, or
        None for an empty field (what the button shows, for tests and analysts)."""
        results: dict[str, bool | str | None] = {}
        wrong = False
        for name, field in self.fields.items():
            if field.value.strip():
                self._typed(name, field.value)
            mark, note = self.marks[name], self.notes[name]
            value = self.value(name)
            if value is None:
                results[name], mark.value, note.value = None, "", ""
                continue
            try:
                verdict = check(name, value)
            except CheckError as exc:
                results[name], mark.value, note.value = str(exc), "", _line(_no_verdict(str(exc)))
                continue
            results[name] = verdict
            mark.value = _mark(verdict)
            note.value = ""
            wrong = wrong or not verdict
        if all(v is None for v in results.values()):
            self.status.value = _line(msg("nothing_typed"))
        elif wrong:
            key = (self.meta.id, self.step.id)
            _hint_tiers_shown[key] = _hint_tiers_shown.get(key, 0) + 1
            self._show_hint(_hint_tiers_shown[key])
        return results

    def _show_hint(self, shown: int) -> None:
        hints = self.step.hints
        if not hints:
            return
        if shown > len(hints):
            self.hint.value = _line(msg("no_more_hints"))
            return
        self.hint.value = _line(msg("hint").format(tier=shown, tiers=len(hints), text=hints[shown - 1]))

    def hint_text(self) -> str:
        """The hint shown now, as plain text ("" when none)."""
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.hint.value))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _no_verdict(message: str) -> str:
    if message == _(NO_CHECKER):
        return msg("no_checker")
    return message


def _mark(correct: bool) -> str:
    colour = "#1a7f37" if correct else "#b3261e"
    return f'<span style="color:{colour};font-weight:bold">{msg("right" if correct else "wrong")}</span>'


def _line(text: str) -> str:
    import html

    return f"<span>{html.escape(text)}</span>"


class _Choices:
    """A field offering fixed choices (``{value: label}``): a multiple selection for a ``list`` answer, a drop-down
    otherwise. It reads and is saved as the text a typed field would hold (the values, joined by ", "), so checking,
    saving and the answer's variable work as for typed answers."""

    def __init__(self, w: Any, options: dict[str, str], multiple: bool, typed: str, label: str) -> None:
        pairs = [(text, value) for value, text in options.items()]
        chosen = [v.strip() for v in typed.split(",") if v.strip() in options]
        layout, style = w.Layout(width="46em"), {"description_width": "16em"}
        if multiple:
            self.widget = w.SelectMultiple(options=pairs, value=tuple(chosen), description=label, layout=layout,
                                           style=style, rows=min(len(pairs), 8))
        else:
            self.widget = w.Dropdown(options=[("", ""), *pairs], value=chosen[0] if chosen else "",
                                     description=label, layout=layout, style=style)

    @property
    def value(self) -> str:
        chosen = self.widget.value
        return ", ".join(chosen) if isinstance(chosen, tuple) else (chosen or "")

    def observe(self, handler: Any, names: str) -> None:
        self.widget.observe(lambda _change: handler({"new": self.value}), names=names)


def answer_form(step_id: str, choices: dict[str, dict[str, str]] | None = None) -> AnswerForm:
    """The answer form of step ``step_id`` of this lab (lab.yaml beside the notebook).

    It fills its fields with what was typed before (``.answers/<lab id>.json``) and sets those answers'
    variables in the notebook's namespace, so the step's test cells record them, also when grading re-runs it.
    ``choices`` offers fixed values for some answers (``{answer: {value: label}}``) instead of a typed field; an
    answer whose lab.yaml rule lists ``choices:`` offers those unless ``choices`` names it.
    """
    directory = lab_dir()
    try:
        meta = load_meta(directory)
    except DflabError as exc:
        raise AnswerError(str(exc)) from None
    step = next((s for s in meta.steps if s.id == step_id), None)
    if step is None:
        raise AnswerError(_("{step} is not a step of this lab; expected one of {steps}").format(
            step=repr(step_id), steps=", ".join(s.id for s in meta.steps if s.answers)))
    if not step.answers:
        raise AnswerError(_("step {step} asks for no answer").format(step=repr(step_id)))
    offered = {n: dict(meta.answers[n].choices or {}) for n in step.answers if meta.answers[n].choices}
    return AnswerForm(meta, step, directory, _user_namespace(), {**offered, **(choices or {})} or None)



def _user_namespace() -> dict[str, Any] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns


# -- forms that drive a prepared cell ---------------------------------------------------------------------------

INPUT_MESSAGES = {  # trainee-facing, like MESSAGES, for the input forms below
    "place": "{place}.",
    "input_saved": N_("Saved: now run the prepared cell below this form."),
}


@dataclass(frozen=True)
class Field:
    """One field of an :func:`input_form`: typed text, or some of fixed ``choices`` ({value: label}) put in order,
    one drop-down per place (``places`` of them, default one per choice)."""

    label: str
    choices: dict[str, str] | None = None
    places: int | None = None


class Ordering:
    """Some of fixed choices put in order: one numbered drop-down per place, each offering every choice.

    Choosing *which* and *in what order* is the decision (lab 01: the order of volatility), so the choices are
    offered in the order given, never sorted into a right one. It reads and is saved as the values chosen in place
    order, joined by ", " (an empty place skipped, a value chosen twice kept at its first place), the text a typed
    field would hold, so saving and reading back work as for :class:`AnswerForm`'s fields."""

    def __init__(self, w: Any, options: dict[str, str], places: int, typed: str, label: str) -> None:
        chosen = [v.strip() for v in typed.split(",") if v.strip() in options]
        pairs = [("", ""), *((text, value) for value, text in options.items())]
        self.slots = [w.Dropdown(options=pairs, value=chosen[i] if i < len(chosen) else "",
                                 description=INPUT_MESSAGES["place"].format(place=i + 1),
                                 layout=w.Layout(width="40em"), style={"description_width": "3em"})
                      for i in range(places)]
        self.widget = w.VBox([w.HTML(_line(label)), *self.slots])

    @property
    def value(self) -> str:
        picked: list[str] = []
        for slot in self.slots:
            if slot.value and slot.value not in picked:
                picked.append(slot.value)
        return ", ".join(picked)

    def observe(self, handler: Any, names: str) -> None:
        for slot in self.slots:
            slot.observe(lambda _change: handler({"new": self.value}), names=names)


class InputForm:
    """What a trainee decides for the prepared cell below the form (which sources, in what order; to whom a case
    goes): not an answer, so nothing is checked here and no test cell records it; the prepared cell acts on it.

    Each value is saved at once to ``.answers/<lab id>.json``, as :class:`AnswerForm` saves typed answers, and set
    as the variable of its name in the kernel's namespace (a list of the values chosen for an ordering, text
    otherwise; empty when nothing was chosen, so the prepared cell never meets an undefined name), so the prepared
    cell, a restarted kernel and grading's re-run of the notebook act on the same decision."""

    def __init__(self, lab_id: str, fields: dict[str, Field], directory: Path,
                 namespace: dict[str, Any] | None) -> None:
        import ipywidgets as w

        self.lab_id, self.specs, self.directory, self.namespace = lab_id, fields, directory, namespace
        typed = read_typed(directory, lab_id)
        self.fields: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        rows = []
        for name, spec in fields.items():
            if spec.choices:
                field: Any = Ordering(w, spec.choices, spec.places or len(spec.choices), typed.get(name, ""),
                                      spec.label)
            else:
                field = w.Text(value=typed.get(name, ""), description=spec.label, continuous_update=False,
                               style={"description_width": "16em"}, layout=w.Layout(width="46em"))
            field.observe(lambda change, n=name: self._typed(n, change["new"]), names="value")
            self.fields[name], self.notes[name] = field, w.HTML()
            rows.append(w.VBox([field.widget if isinstance(field, Ordering) else field, self.notes[name]]))
        self.status = w.HTML()
        self.widget = w.VBox([*rows, self.status])
        self._publish()

    def value(self, name: str) -> list[str] | str:
        """What the trainee decided for field ``name``: the values chosen in order, or the text typed."""
        text = self.fields[name].value.strip()
        if self.specs[name].choices:
            return [v.strip() for v in text.split(",") if v.strip()]
        return text

    def _publish(self) -> None:
        if self.namespace is not None:
            for name in self.fields:
                self.namespace[name] = self.value(name)

    def _typed(self, name: str, text: str) -> None:
        if len(text) > MAX_TYPED_CHARS:
            self.notes[name].value = _line(msg("too_long").format(limit=MAX_TYPED_CHARS))
            return
        try:
            save_typed(self.directory, self.lab_id, {name: text})
        except (OSError, DflabError) as exc:
            self.notes[name].value = _line(msg("unsaved").format(why=type(exc).__name__))
            return
        self.notes[name].value = ""
        self._publish()
        self.status.value = _line(_(INPUT_MESSAGES["input_saved"]))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def input_form(fields: dict[str, Field]) -> InputForm:
    """A form whose values drive the prepared cell below it (see :class:`InputForm`), in this lab's folder.

    A field may not bear an answer's name: an answer is typed into :func:`answer_form`, checked and recorded."""
    directory = lab_dir()
    try:
        meta = load_meta(directory)
    except DflabError as exc:
        raise AnswerError(str(exc)) from None
    if clash := sorted(set(fields) & set(meta.answers)):
        raise AnswerError(f"{clash[0]!r} is an answer of this lab: its field belongs in its step's answer_form")
    return InputForm(meta.id, fields, directory, _user_namespace())


__all__ = ["ANSWERS_DIR", "INPUT_MESSAGES", "MESSAGES", "AnswerForm", "Field", "InputForm", "Ordering",
           "answer_form", "convert", "input_form", "read_typed"]
