"""`python -m vae_core` (and the `vae-core` command): the command line, `vae_core.cli`."""
import sys

from .cli import main

sys.exit(main())
