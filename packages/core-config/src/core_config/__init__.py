"""core-config: the one place every service reads its configuration from.

Entry points call ``get_settings()`` inside ``exit_on_config_error()`` so that a bad setting
stops the process with one line per problem and no traceback.

The logging names (structlog) load on first use (PEP 562): a command answering `--help` or a
settings error does not load the logging stack.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
