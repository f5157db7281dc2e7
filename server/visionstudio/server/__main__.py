"""`python -m visionstudio.server`: the same as `visionstudio-server`."""

import sys

from visionstudio.server.main import main

sys.exit(main())
