"""The local stack behind `make run` and `make test`: servers found or embedded, processes supervised.

Run it as ``.venv/bin/python infra/local/stack.py``; see infra/local/README.md.
"""
