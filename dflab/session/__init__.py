"""Cohort sessions: one lab environment per trainee, their durable state, and the ``dflab session`` CLI."""
