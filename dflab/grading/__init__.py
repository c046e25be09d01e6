"""Grading: answer checks and the nbgrader preprocessors that score recorded answers against each trainee's key.

Everything here runs in the grader's process, never in a trainee's kernel.
"""
