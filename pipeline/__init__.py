"""litwatch's application layer: config, E-utilities, parsing, assessment, runs, scheduler and the CLI."""

__version__ = "0.1.0"
