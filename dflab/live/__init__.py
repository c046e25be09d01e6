"""Live response (lab 01): the suspect process, collection helpers, chain of custody and grading."""
