"""Maintenance of the store: audit (and --fix, its report), dead-links, doctor."""
