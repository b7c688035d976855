"""The engine layer: a small protocol and its implementations."""

from agentlab.engine.protocol import Engine, EngineEvent, EventStream, ImageInfo, Replica

__all__ = ["Engine", "EngineEvent", "EventStream", "ImageInfo", "Replica"]
