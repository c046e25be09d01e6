"""Per-trainee lab environments behind one interface (in the spirit of JupyterHub's ``Spawner``).

``base.Backend`` is the contract; ``local_backend`` runs one JupyterLab process per trainee on this
machine (the embedded default, no engine needed) and ``docker_backend`` one confined container per
trainee. ``dflab.session`` drives them and keeps their state durable.
"""
