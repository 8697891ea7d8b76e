"""The pure scoring core: audio features, heuristics, taxonomy and the ensemble.

Arrays and frozen dataclasses in, dataclasses out. Nothing in this package may import beets,
confuse, mediafile or torch, or touch a file path (``tests/test_architecture.py`` checks).
"""
