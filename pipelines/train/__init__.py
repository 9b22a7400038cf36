"""Training pipelines: the CLI (`cardvault train ...`) and the notebooks call these."""
