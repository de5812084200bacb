"""The capture pipeline: fetch → decode → inline → extract → store.

Each step is a plain function over bytes and strings with no Django import, so it is tested without a
database or a network. `snapshots.tasks.capture_snapshot` is the one place that runs them against models.
"""
