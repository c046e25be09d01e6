"""The instant checker: right or wrong for one answer of one trainee, decided outside the trainee's environment.

One process per session (``python -m dflab.checker SESSION_DIR``, started and stopped by ``dflab session``:
:mod:`~dflab.checker.process`) holds the lab's check file and the trainees' keys, which no lab ever sees, and
answers over one Unix socket per trainee (:mod:`~dflab.checker.protocol`, :mod:`~dflab.checker.server`). A
trainee's lab is given only the folder of its own socket, so the socket a request arrives on *is* who asks: no
token to steal or replay, and one mechanism for confined local labs, Docker labs and unconfined practice labs.
Verdicts come from :func:`dflab.grading.checks.check_answer`, so an instant check agrees with grading
(:mod:`~dflab.checker.service`); each is recorded in the session state without the value, and a sliding window
over those records limits how often one answer may be tried (:mod:`~dflab.checker.ratelimit`). Attempts never
change a grade.

The kernel's side is :func:`dflab.lab.check`. Importing this package imports nothing.
"""
