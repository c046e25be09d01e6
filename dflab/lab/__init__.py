"""What lab notebooks import: record answers, find the evidence, check its integrity.

This package runs in the trainee's kernel, so it never reads or holds an
answer value or the key: :func:`answer` validates only the *shape* of a value
(from the lab's ``lab.yaml``) and emits it as a display output that the
grader, in its own process, compares with the key (see graders/README.md).
:func:`check` asks the session's checker, outside the kernel, whether a value
is right (dflab.checker); the kernel learns a verdict, never the key.
"""

from dflab.lab.answers import ANSWER_MIME, AnswerError, answer, lab_answers
from dflab.lab.check import CheckError, check
from dflab.lab.evidence import EVIDENCE_ENV, evidence_dir, verify_evidence
from dflab.lab.form import AnswerForm, answer_form

__all__ = ["ANSWER_MIME", "EVIDENCE_ENV", "AnswerError", "AnswerForm", "CheckError", "answer", "answer_form", "check",
           "evidence_dir", "lab_answers", "verify_evidence"]
