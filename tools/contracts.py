"""A custom import-linter contract: only some modules may import a submodule of an external
package. import-linter squashes external packages to their top-level name (``twilio``), so its
own ``forbidden`` and ``protected`` contracts cannot name ``twilio.twiml``; this one reads the
import lines of every import of the package instead.

    [[tool.importlinter.contracts]]
    type = "submodule_importers"
    submodule = "twilio.twiml"
    allowed_importers = ["ivr.telephony.render"]
"""

from __future__ import annotations

from typing import Any

from grimp import ImportGraph
from importlinter import Contract
from importlinter import ContractCheck
from importlinter import fields
from importlinter import output


class SubmoduleImportersContract(Contract):
    """Only ``allowed_importers`` import ``submodule`` (or anything below it)."""

    type_name = "submodule_importers"

    submodule = fields.StringField()
    allowed_importers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        submodule = str(self.submodule)
        package = submodule.split(".")[0]
        allowed = {str(m) for m in self.allowed_importers}  # type: ignore[attr-defined]
        offences: list[str] = []
        for importer in sorted(graph.find_modules_that_directly_import(package)):
            if importer in allowed:
                continue
            for detail in graph.get_import_details(importer=importer, imported=package):
                line = str(detail["line_contents"])
                if _names(line, submodule):
                    offences.append(f"{importer}:{detail['line_number']}: {line}")
        return ContractCheck(kept=not offences, metadata={"offences": offences})

    def render_broken_contract(self, check: ContractCheck) -> None:
        offences: list[Any] = check.metadata["offences"]
        for offence in offences:
            output.print_error(offence)
            output.new_line()


def _names(line: str, submodule: str) -> bool:
    words = line.replace(",", " ").split()
    return any(w == submodule or w.startswith(submodule + ".") for w in words)
