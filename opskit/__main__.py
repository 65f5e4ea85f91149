"""``python -m opskit``: the same as the ``opskit`` command."""

from opskit.cli import main

main()
