"""``python -m worker_service``: the same as the ``worker-service`` console script."""

from worker_service.cli import main

main()
