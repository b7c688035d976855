"""A project's configuration: where its files are (location.py) and what `agentlab.yaml`
says (config.py), validated against the domain's vocabulary."""
