"""The link library: links, tags, snapshots and their capture."""
