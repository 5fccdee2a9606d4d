"""Capture and replay: minigrad.compile traces a function once per input signature and replays it."""
