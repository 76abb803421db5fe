"""``python -m emomv_desktop``: the same as the ``emomv-desktop`` command."""

from .cli import main

raise SystemExit(main())
