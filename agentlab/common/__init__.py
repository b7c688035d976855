"""The bottom layer: what every other layer may use (errors, events, small value helpers).

Nothing here imports another agentlab package.
"""
