"""Retries, one library: every retry loop in coverctl is a stamina `retry_context` from here.

stamina logs each retry it schedules at WARNING; with no handler configured Python prints that on
stderr, through the batch progress bar. Callers count their retries themselves (the HTTP gates'
stats, a push report), so the log is kept quiet here, once, for all of them.
"""

from __future__ import annotations

import logging

import stamina

logging.getLogger("stamina").setLevel(logging.ERROR)

retry_context = stamina.retry_context

__all__ = ["retry_context"]
