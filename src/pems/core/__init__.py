"""Project-wide plumbing: the `pems` management commands and shared templates."""
