"""The course's interactive widgets.  Each notebook's widgets live in a module named after the
notebook's idea; all follow ``CourseWidget`` (see ``_base``)."""
from ._base import CourseWidget, new_figure

__all__ = ["CourseWidget", "new_figure"]
