"""Exercise checkers, one module per chapter idea.

Each checker says "not answered yet" for ``None``, "correct", or what is off."""
