"""The data officer's console: views over a date's findings, ipywidgets, JupyterLab / Voila.

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.console.launch import console_command as console_command
    from reportkit.console.launch import launch_console as launch_console
    from reportkit.console.views import VIEWS as VIEWS
    from reportkit.console.views import ConsoleModel as ConsoleModel
    from reportkit.console.widgets import Console as Console
    from reportkit.console.widgets import school_controls as school_controls
    from reportkit.console.widgets import table_html as table_html

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Console": "widgets",
        "ConsoleModel": "views",
        "VIEWS": "views",
        "console_command": "launch",
        "launch_console": "launch",
        "school_controls": "widgets",
        "table_html": "widgets",
    },
)
