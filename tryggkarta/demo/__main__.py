"""``python -m tryggkarta.demo generate [FOLDER]``."""

from tryggkarta.demo.generate import main

raise SystemExit(main())
