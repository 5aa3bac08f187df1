"""`python -m coda.knowledge index DIR --out FILE`: see `coda.infrastructure.knowledge_command`."""

import sys

from coda.infrastructure.knowledge_command import main

sys.exit(main())
