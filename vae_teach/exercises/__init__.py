"""Exercise checkers, one module per chapter idea.

Every checker returns a ``Feedback``: "not answered yet" for ``None``, a message starting with
"correct", or what is off.  Call it as the last line of the exercise cell and Jupyter shows the
message as plain text; ``feedback.correct`` says whether the answer was right (tests use it).
"""


class Feedback(str):
    """A checker's message.  ``.correct`` says whether the answer was right; Jupyter shows the
    text without quotes."""

    correct: bool = False

    def __new__(cls, message: str, correct: bool = False):
        feedback = super().__new__(cls, message)
        feedback.correct = correct
        return feedback

    def __repr__(self) -> str:  # shown as the message itself, in and out of IPython
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display: plain text
        printer.text(str(self))


def say(message: str) -> Feedback:
    """A Feedback whose ``correct`` flag is read off the message ("correct..." or not)."""
    return Feedback(message, correct=message.startswith("correct"))
