"""Watching a lab's files and rolling out the versions an edit asks for: the watcher
(watcher.py), the desired state it loads (state.py), what it reports (events.py) and the
debounced file changes it waits on (files.py)."""
