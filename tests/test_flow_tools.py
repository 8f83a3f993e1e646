"""Seeing and comparing flows: `ivr graph`, the committed diagram, flow versions on call
records, `ivr check --actions` and `ivr diff`, on the hotline and on the small flow in
``tests/flows/small/``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.engine.catalog import load_flows
from ivr.engine.compile import CompiledFlow
from ivr.engine.diagram import flow_diagram
from ivr.engine.diagram import to_dot
from ivr.engine.diagram import to_mermaid
from ivr.engine.vocabulary import describe
from ivr.flow.diff import diff_flows
from ivr.flow.diff import word_diff
from ivr.flow.loader import load_flow
from ivr.flow.version import flow_version
from ivr.hotline.actions import hotline
from tests.conftest import post
from tests.conftest import runtime_of

ROOT = Path(__file__).parent.parent
SMALL = Path(__file__).parent / "flows" / "small"
DIAGRAM = ROOT / "docs" / "hotline.mmd"
REGENERATE = "ivr graph hotline --out docs/hotline.mmd && python3 tools/readme_diagram.py"


@pytest.fixture(scope="module")
def small() -> CompiledFlow:
    return load_flows(SMALL, hotline)["small"]


# --- the diagram -------------------------------------------------------------------------------


SMALL_MERMAID = """\
%% flow small: `ivr graph small` draws it
flowchart LR
    _incoming(("call"))
    welcome["welcome<br/>menu"]
    ask_phone[/"ask_phone<br/>entry"/]
    find{{"find<br/>route<br/>find_entered_account"}}
    known("known<br/>say")
    goodbye((("goodbye<br/>hangup")))
    agent[["agent<br/>transfer"]]
    _incoming -->|"answer"| welcome
    welcome -->|"1 · your account"| ask_phone
    welcome -->|"2 · ending the call"| goodbye
    welcome -.->|"0 agent, 3× silence, 3× invalid"| agent
    welcome -.->|"9 repeat, silence: retry, invalid: retry"| welcome
    ask_phone -->|"entered"| find
    ask_phone -.->|"0 agent, 3× silence, 3× invalid"| agent
    ask_phone -.->|"9 repeat, silence: retry, invalid: retry"| ask_phone
    ask_phone -.->|"* back"| welcome
    find -->|"next [account_known]"| known
    find -->|"next"| agent
    known -->|"next"| goodbye
    agent -.->|"queue closed"| goodbye
    classDef incoming fill:#111827,color:#fff,stroke:#111827
    class _incoming incoming
    classDef menu fill:#dbeafe,stroke:#1d4ed8
    class welcome menu
    classDef entry fill:#e0e7ff,stroke:#4338ca
    class ask_phone entry
    classDef say fill:#dcfce7,stroke:#15803d
    class known say
    classDef route fill:#f3f4f6,stroke:#9ca3af,stroke-dasharray:3 3,color:#4b5563
    class find route
    classDef transfer fill:#fee2e2,stroke:#b91c1c
    class agent transfer
    classDef hangup fill:#e5e7eb,stroke:#374151
    class goodbye hangup
    linkStyle 3,4,6,7,8 stroke:#9ca3af,stroke-dasharray:4 3,color:#6b7280
    linkStyle 12 stroke:#d97706,stroke-dasharray:6 3,color:#b45309
"""


def test_graph_draws_the_small_flow_in_mermaid_with_types_labels_and_implicit_edges(
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["graph", str(SMALL / "small.yaml"), "--lang", "en-US"])
    assert result.exit_code == 0, result.output
    assert result.output == SMALL_MERMAID


def test_graph_labels_options_in_the_flows_first_language_by_default(small: CompiledFlow) -> None:
    edges = {(e.source, e.target): e.label for e in flow_diagram(small).edges}
    assert edges[("welcome", "ask_phone")] == "1 · 查找账户"


def test_the_library_diagram_names_actions_and_guards_as_registered(
    small: CompiledFlow,
) -> None:
    from statemachine.contrib.diagram import MermaidGraphMachine  # the library's own view

    drawn = MermaidGraphMachine(small.machine)()
    assert "find : entry / find_entered_account" in drawn
    assert "find --> known : Next [account_known]" in drawn
    assert " run" not in drawn
    assert "check" not in drawn


def test_guards_with_arguments_show_them_in_the_hotline_diagram() -> None:
    text = DIAGRAM.read_text(encoding="utf-8")
    assert '|"next [count_below(wrong_pins: 3)]"| wrong_pin' in text
    assert '|"1 · 中文服务 / set_language(zh-CN), 2 · 英文服务 / set_language(en-US), ' in text


def test_graph_dot_styles_route_states_and_implicit_edges_apart(small: CompiledFlow) -> None:
    dot = to_dot(flow_diagram(small), highlight=["welcome"])
    assert '"find" [label="find\\nroute\\nfind_entered_account" shape=hexagon' in dot
    assert '"ask_phone" -> "welcome" [label="* back" style=dashed color="#9ca3af"' in dot
    assert '"agent" -> "goodbye" [label="queue closed" style=dashed color="#d97706"' in dot
    assert 'color="#dc2626" penwidth=3' in dot


def test_graph_highlights_changed_states_in_mermaid(small: CompiledFlow) -> None:
    text = to_mermaid(flow_diagram(small), highlight=["known", "find"])
    assert "    class find,known changed\n" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_writes_svg_through_graphviz(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "small.svg"
    result = runner.invoke(
        main, ["graph", str(SMALL / "small.yaml"), "--format", "svg", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert "<title>ask_phone&#45;&gt;welcome</title>" in out.read_text(encoding="utf-8")


def test_graph_says_what_to_install_when_graphviz_is_missing(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        main, ["graph", "--format", "png", "--out", str(tmp_path / "x.png")], env={"PATH": ""}
    )
    assert result.exit_code == 2
    assert "error: --format png needs Graphviz's `dot` program, which is not installed" in (
        result.output
    )
    assert "apt-get install graphviz" in result.output
    assert "--format mermaid, which needs nothing" in result.output


def test_graph_of_an_unknown_flow_names_the_flows_there(runner: CliRunner) -> None:
    result = runner.invoke(main, ["graph", "nope"])
    assert result.exit_code == 2
    assert "error: no flow named 'nope'" in result.output
    assert "pick one of: callback, hotline" in result.output


def test_the_committed_hotline_diagram_is_current(runner: CliRunner) -> None:
    result = runner.invoke(main, ["graph", "hotline"])
    assert result.exit_code == 0, result.output
    assert DIAGRAM.read_text(encoding="utf-8") == result.output, (
        f"docs/hotline.mmd is out of date with flows/hotline.yaml: run `{REGENERATE}`"
    )


# --- flow versions -----------------------------------------------------------------------------


def test_a_flow_version_is_the_hash_of_its_file(small: CompiledFlow) -> None:
    import hashlib  # the expected value, computed independently

    digest = hashlib.sha256((SMALL / "small.yaml").read_bytes()).hexdigest()
    assert small.version == digest[:12]
    assert flow_version(load_flow(SMALL / "small.yaml")) == digest[:12]


def test_a_call_record_keeps_the_version_of_the_flow_it_ran_on(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    post(app, "/voice", CallSid="CA" + "7" * 32, From="+8613800000001", To="+864001234567")
    runtime = runtime_of(app)
    record = runtime.records.record("CA" + "7" * 32)
    assert record is not None
    assert record.flow_version == runtime.flows["hotline"].version
    assert len(record.flow_version) == 12


# --- check --actions ---------------------------------------------------------------------------


def test_check_actions_lists_each_action_and_guard_with_argument_values_and_uses(
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["check", "--actions", "--flows", str(SMALL)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "actions (24), for do:"
    at = lines.index("  find_entered_account")
    assert lines[at + 1 : at + 3] == [
        "      Look up the registered mobile number the caller keyed in. Whether one was found is"
        " not told to the caller: the flow asks for the PIN either way (``verify_pin``).",
        "      used at tests/flows/small/small.yaml: states.find.do",
    ]
    assert "  count(name: str)" in lines
    assert "  send_reset_sms  → {phone_tail}  sends messages.reset_sms" in lines
    guards = lines.index("guards (17), for when:")
    assert lines[guards + 1 : guards + 3] == [
        "  account_known",
        "      used at tests/flows/small/small.yaml: states.find.next[0].when",
    ]
    assert "  count_below(limit: object)" in lines


def test_check_actions_on_the_hotline_shows_every_use(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "--actions"])
    assert result.exit_code == 0, result.output
    assert "      used at flows/hotline.yaml: states.survey.options[4].do" in result.output
    named = {n.name: n for n in describe(hotline)}
    assert named["record_survey"].argument == "score: int"
    assert "      used at flows/hotline.yaml: states.solved.options[0].do" in result.output
    assert named["set_language"].signature == "set_language(lang: str)"


# --- diff --------------------------------------------------------------------------------------


def test_word_diff_is_per_word_in_english_and_per_character_in_chinese() -> None:
    assert word_diff("请选择您要咨询的问题。", "请选择您要办理的业务。") == (
        "请选择您要[-咨询-]{+办理+}的[-问题-]{+业务+}。"
    )
    assert word_diff("For {label}, press {key}.", "For {label}, dial {key}.") == (
        "For {label}, [-press-]{+dial+} {key}."
    )


def _edited_small(tmp_path: Path) -> Path:
    folder = tmp_path / "new"
    folder.mkdir()
    text = (SMALL / "small.yaml").read_text(encoding="utf-8")
    text = text.replace(
        '{key: "2", label: {zh-CN: 结束通话, en-US: ending the call}, goto: goodbye}',
        '{key: "3", label: {zh-CN: 结束通话, en-US: ending the call}, goto: goodbye}\n'
        '      - {key: "2", label: {zh-CN: 人工服务, en-US: an agent}, goto: agent}',
    )
    text = text.replace("{goto: agent, reason: number not found}", "{goto: goodbye}")
    text = text.replace(
        "prompt: {zh-CN: 您好，欢迎致电。, en-US: Hello and welcome.}",
        "prompt: {zh-CN: 您好，欢迎来电。, en-US: Hello and thanks for calling.}",
    )
    (folder / "small.yaml").write_text(text, encoding="utf-8")
    return folder


def test_diff_reports_rewording_rekeyed_and_added_options_and_new_targets(
    runner: CliRunner, tmp_path: Path
) -> None:
    new = _edited_small(tmp_path)
    result = runner.invoke(main, ["diff", str(SMALL), str(new), "--scripts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    old_version = load_flows(SMALL, hotline)["small"].version
    new_version = load_flows(new, hotline)["small"].version
    assert result.output == (
        f"flow small: {old_version} → {new_version}\n"
        "  state welcome (changed)\n"
        "    option 2 re-keyed to 3 (→ goodbye)\n"
        "    option 2 added → agent\n"
        "    prompt zh-CN: 您好，欢迎[-致-]{+来+}电。\n"
        "    prompt en-US: Hello and [-welcome-]{+thanks for calling+}.\n"
        "  state find (changed)\n"
        "    next known if account_known, agent → known if account_known, goodbye\n"
        "  recordings made stale: 0\n"
        "  call scripts that expect changed words or states: 0\n"
    )


def test_diff_fails_on_structure_when_asked(runner: CliRunner, tmp_path: Path) -> None:
    new = _edited_small(tmp_path)
    result = runner.invoke(main, ["diff", str(SMALL), str(new), "--fail-on", "structure"])
    assert result.exit_code == 1
    assert "structural changes found (--fail-on structure)" in result.output


def test_rewording_alone_is_not_structural(tmp_path: Path) -> None:
    old = load_flow(ROOT / "flows" / "hotline.yaml")
    edited = tmp_path / "hotline.yaml"
    text = (ROOT / "flows" / "hotline.yaml").read_text(encoding="utf-8")
    edited.write_text(text.replace("请选择您要咨询的问题。", "请选择您要办理的业务。"), "utf-8")
    found = diff_flows(old, load_flow(edited))
    assert not found.structural
    assert [(s.state, [r.marked for r in s.reworded]) for s in found.states] == [
        ("main_menu", ["请选择您要[-咨询-]{+办理+}的[-问题-]{+业务+}。"])
    ]
    assert [(p.id, p.lang) for p in found.stale] == [("hotline.main_menu.prompt", "zh-CN")]


def test_diff_of_the_hotline_names_stale_recordings_scripts_and_draws_the_change(
    runner: CliRunner, tmp_path: Path
) -> None:
    new = tmp_path / "flows"
    new.mkdir()
    text = (ROOT / "flows" / "hotline.yaml").read_text(encoding="utf-8")
    (new / "hotline.yaml").write_text(
        text.replace("请选择您要咨询的问题。", "请选择您要办理的业务。"), "utf-8"
    )
    shutil.copy(ROOT / "flows" / "callback.yaml", new / "callback.yaml")
    graph = tmp_path / "changed.mmd"
    result = runner.invoke(
        main,
        ["diff", str(ROOT / "flows"), str(new), "--graph", str(graph), "--fail-on", "structure"],
    )
    assert result.exit_code == 0, result.output
    assert "    prompt zh-CN: 请选择您要[-咨询-]{+办理+}的[-问题-]{+业务+}。\n" in result.output
    assert "  recordings made stale: 1\n    zh-CN hotline.main_menu.prompt" in result.output
    assert "    tests/calls/zh_star_goes_back.yaml\n" in result.output
    assert "    class main_menu changed\n" in graph.read_text(encoding="utf-8")


def test_diff_against_a_git_revision_reads_the_flows_at_that_revision(
    runner: CliRunner, tmp_path: Path
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "flows").mkdir(parents=True)
    shutil.copy(SMALL / "small.yaml", repo / "flows" / "small.yaml")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    shutil.copy(_edited_small(tmp_path) / "small.yaml", repo / "flows" / "small.yaml")
    result = runner.invoke(main, ["diff", "HEAD"], env={"IVR_FLOWS_DIR": str(repo / "flows")})
    assert result.exit_code == 0, result.output
    assert "    option 2 re-keyed to 3 (→ goodbye)\n" in result.output
    bad = runner.invoke(main, ["diff", "no-such-rev"], env={"IVR_FLOWS_DIR": str(repo / "flows")})
    assert bad.exit_code == 2
    assert "error: not a folder, and git says: fatal:" in bad.output


def test_the_readme_embeds_the_committed_diagram_when_it_shows_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(%% flow hotline:.*?)```", readme, flags=re.DOTALL)
    for block in blocks:
        assert block == DIAGRAM.read_text(encoding="utf-8"), (
            f"README.md's diagram is out of date: run `{REGENERATE}` and paste docs/hotline.mmd"
        )
