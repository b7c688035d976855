"""The engine port (protocol.py, model.py) and its adapters: Compose (compose.py, over the
transport api.py or cli.py) and the in-memory twin (fake.py)."""
