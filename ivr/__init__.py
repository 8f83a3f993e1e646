"""ivr: build, test and run the bilingual phone menu of a digital-wallet hotline.

The public API, for the people who run a hotline and test it::

    from ivr import create_app, Simulator, WsgiTransport, load_script, run_script

    app = create_app({"IVR_DATABASE_URL": "sqlite:///hotline.sqlite3"})
    simulator = Simulator(WsgiTransport(app))
    result = run_script(load_script(Path("tests/calls/zh_unlock_li_na.yaml")), simulator)

The layers (drawn in CONTRIBUTING.md, held by import-linter) are subpackages: ``flow`` (flows
as data), ``engine`` (running them), ``voice``, ``wallet``, ``media``, ``telephony``,
``stores``, ``hotline``, ``web`` (the only Flask importer, with ``cli`` and ``testing`` above
it) and ``testing`` (the simulator and call scripts users test with).

Names are resolved on first use, so ``import ivr.engine`` does not import Flask through this
package: the pure core stays pure.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

__version__ = "0.1.0.dev0"

# name -> the module that defines it
_EXPORTS = {
    "create_app": "ivr.web.app",
    "Simulator": "ivr.testing.simulator",
    "Call": "ivr.testing.simulator",
    "CallResult": "ivr.testing.simulator",
    "Transport": "ivr.testing.simulator",
    "WsgiTransport": "ivr.testing.simulator",
    "HttpTransport": "ivr.testing.simulator",
    "Script": "ivr.testing.scripts",
    "ScriptResult": "ivr.testing.scripts",
    "load_script": "ivr.testing.scripts",
    "run_script": "ivr.testing.scripts",
    "discover": "ivr.testing.scripts",
    "replay": "ivr.testing.replay",
    "load_flows": "ivr.engine.catalog",
    "check_flows": "ivr.engine.catalog",
    "Registry": "ivr.engine.registry",
    "IvrError": "ivr.errors",
    "FlowValidationError": "ivr.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from ivr.engine.catalog import check_flows as check_flows
    from ivr.engine.catalog import load_flows as load_flows
    from ivr.engine.registry import Registry as Registry
    from ivr.errors import FlowValidationError as FlowValidationError
    from ivr.errors import IvrError as IvrError
    from ivr.testing.replay import replay as replay
    from ivr.testing.scripts import Script as Script
    from ivr.testing.scripts import ScriptResult as ScriptResult
    from ivr.testing.scripts import discover as discover
    from ivr.testing.scripts import load_script as load_script
    from ivr.testing.scripts import run_script as run_script
    from ivr.testing.simulator import Call as Call
    from ivr.testing.simulator import CallResult as CallResult
    from ivr.testing.simulator import HttpTransport as HttpTransport
    from ivr.testing.simulator import Simulator as Simulator
    from ivr.testing.simulator import Transport as Transport
    from ivr.testing.simulator import WsgiTransport as WsgiTransport
    from ivr.web.app import create_app as create_app


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ivr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
