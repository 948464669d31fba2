"""Sub-commands of the ``shlyuz`` CLI. Each module has ``register(subparsers)`` which adds its parser and sets
``func`` (taking the parsed args, returning an exit code) as the parser's default."""

COMMAND_MODULES = (
    "shlyuz.commands.serve",
    "shlyuz.commands.send",
    "shlyuz.commands.sign",
    "shlyuz.commands.journal",
    "shlyuz.commands.fixtures",
    "shlyuz.commands.iin",
    "shlyuz.commands.pki",
    "shlyuz.commands.services",
    "shlyuz.commands.run",
    "shlyuz.commands.record",
    "shlyuz.commands.replay",
    "shlyuz.commands.conform",
    "shlyuz.commands.ncalayer",
)
