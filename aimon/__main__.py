"""``python -m aimon`` runs the CLI."""

from aimon.cli import main

raise SystemExit(main())
