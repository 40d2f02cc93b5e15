"""``python -m bot.cli``: the same as the ``releasegate`` command."""

from bot.cli.main import main

raise SystemExit(main())
