"""Command modules: each defines click commands in a ``COMMANDS`` list that the CLI registers.

Commands are thin: they parse options and call library functions. Shared helpers (the catalog,
speech options, progress) come from :mod:`voiceguide.cli`.
"""
