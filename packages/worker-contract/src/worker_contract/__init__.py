"""What the worker takes and what it publishes: the tasks' names and arguments, and the live
stream's status in Redis. The api and the worker both import it; it imports nothing of ours.

Names load on first use (PEP 562), declared once in __init__.pyi.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
