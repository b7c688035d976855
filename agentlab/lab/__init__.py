"""The application layer: the `Lab` facade (facade.py) and the services it delegates to.

Import the facade and its typed results from their modules; this package imports nothing
itself, so a face loads only what it uses.
"""
