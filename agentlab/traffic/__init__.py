"""Traffic: HTTP load through a lab's entry point, counted per version (load.py)."""
