"""The instructor's live view of a session (``dflab session dashboard``): who is where, who is stuck, how it went.

``progress`` and ``items`` are pure (a trainee's steps, stuck flag and step times; the cohort's item analysis);
``live`` asks each lab how it is (backend, Jupyter API, saved notebook) with bounded waits, in the background;
``snapshot`` puts the session's state, the live facts and the gradebook together, for the page, ``session status``
and ``benchmarks/dashboard.py`` alike; ``charts`` draws with matplotlib (SVG, offline); ``actions`` runs the CLI's
own functions in the background; ``auth``, ``page`` and ``server`` are the tornado app on 127.0.0.1.
"""
