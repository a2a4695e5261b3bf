"""Training code for index kinds that learn (one module per kind, each with a `python -m` command line)."""
