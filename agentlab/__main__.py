"""`python -m agentlab` runs the command line."""

import sys

from agentlab.cli.main import main

sys.exit(main())
