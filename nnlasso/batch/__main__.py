"""``python -m nnlasso.batch --serve``: the worker protocol of ``nnlasso batch``."""
import sys

from .runner import _main

sys.exit(_main())
