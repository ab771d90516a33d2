"""``python -m noisybox``: the same as the ``noisybox`` command."""

from noisybox.cli import main

raise SystemExit(main())
