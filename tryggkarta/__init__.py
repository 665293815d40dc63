"""tryggkarta — the shared safety map of a Swedish municipality and its local police."""

__version__ = "0.1.0"
