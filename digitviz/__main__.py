import sys

from digitviz.cli import main

sys.exit(main())
