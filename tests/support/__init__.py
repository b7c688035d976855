"""Programs the tests run inside containers."""
