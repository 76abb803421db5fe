"""EmoMV Desktop: find music for a video by emotion."""

__version__ = "0.1.0"
