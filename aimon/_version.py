"""The version of aimon, in a module of its own so that any layer can read it without
importing the package's public face (which imports the Monitor)."""

__version__ = "0.1.0"
