"""agentlab: run a Docker Compose project as a release lab."""

__version__ = "0.1.0"
