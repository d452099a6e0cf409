"""``python -m hospiflow.cli``: the same as the ``hospiflow`` command."""

from hospiflow.cli import main

main()
