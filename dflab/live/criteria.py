"""What lab 01's collection is graded on, and each criterion's points (dflab.live.grading scores them).

On their own, without pandas: the lab's hooks name the criteria its checks may take whenever they are loaded (an
evidence build, a session command), and only grading needs the tables behind them.
"""

POINTS = {"order": 3.0, "hashes": 3.0, "completeness": 2.0, "trait_exe": 2.0, "trait_held_file": 2.0,
          "trait_listener": 2.0, "trait_sink_connection": 2.0, "trait_user_trace": 2.0}
CUSTODY_POINTS = 2.0
CRITERIA = (*POINTS, "custody")  # what a grader check may name (labs/01-live/grader.yaml)
