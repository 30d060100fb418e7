"""Allow ``python -m dicomscrub``."""

from dicomscrub.cli import main

raise SystemExit(main())
