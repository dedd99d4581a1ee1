import sys

from dynovault.cli import main

sys.exit(main())
