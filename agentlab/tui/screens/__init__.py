"""Modal screens: pickers, forms, logs and confirmations."""
