"""Command modules: each defines click commands in a ``COMMANDS`` list that the CLI registers.

Commands are thin: they parse options and call library functions. Shared helpers (the catalog,
speech options, output) come from :mod:`voiceguide.commands.options`.
"""
