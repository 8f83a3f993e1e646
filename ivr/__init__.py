"""ivr: build, test and run the bilingual phone menu of a digital-wallet hotline.

The package is a pure core (flows, engine, rendering, sessions, wallet, simulator) with a
thin shell (the Flask blueprint and app factory in ``webhooks``/``app``, the ``ivr`` command
in ``cli``). Only the shell imports Flask.
"""

__version__ = "0.1.0.dev0"
