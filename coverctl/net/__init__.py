"""Talking to the network: the guard every URL from outside goes through (``guard``)."""
