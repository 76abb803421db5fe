"""The engine: decoding, feature extraction, the retrieval model, the library index and ranking.

Nothing in this package imports Qt. Importing it is cheap and has no side effects; heavy modules
(torch backbones, SQLite) are imported by the submodules that need them.
"""
