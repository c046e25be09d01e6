"""JupyterHub with DockerSpawner for cohorts past one machine's session (``dflab hub``)."""
