"""The version of repspace (one place; the package root and every manifest read it)."""

__version__ = "0.1.0"
