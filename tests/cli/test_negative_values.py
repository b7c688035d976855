"""Negative durations, numbers and lists are refused in one line, exit 2, before any
lab is opened (argparse read `--delay -1s` as a missing value: "expected one argument")."""

from __future__ import annotations

import argparse

import pytest

from agentlab.cli import main as cli
from agentlab.cli import values
from agentlab.cli.commands import parse_sets
from agentlab.common.errors import BadInput

ROLLOUT = ["rollout", "agent", "--to", "1.3.0", "--dry-run"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            [*ROLLOUT, "--deregistration-delay", "-1s"],
            "argument --deregistration-delay: -1s is negative",
        ),
        ([*ROLLOUT, "--delay=-1s"], "argument --delay: -1s is negative"),
        ([*ROLLOUT, "--steps", "-10,100"], "argument --steps: -10 is negative"),
        ([*ROLLOUT, "--steps", "10,pause -5s,100"], "argument --steps: -5s is negative"),
        ([*ROLLOUT, "--max-surge", "-25%"], "argument --max-surge: -25% is negative"),
        ([*ROLLOUT, "--max-failure-ratio", "-.5"], "argument --max-failure-ratio: -.5 is negative"),
        ([*ROLLOUT, "--analysis-count", "-3"], "argument --analysis-count: -3 is negative"),
        ([*ROLLOUT, "--traffic", "-5"], "argument --traffic: -5 is negative"),
        (["scale", "agent", "2", "--timeout", "-1"], "argument --timeout: -1 is negative"),
        (["up", "--timeout", "-1.5"], "argument --timeout: -1.5 is negative"),
        (["logs", "x", "-n", "-5"], "argument -n/--lines: -5 is negative"),
        (["traffic", "--rps", "-3"], "argument --rps: -3 is negative"),
        (["watch", "--duration", "-1"], "argument --duration: -1 is negative"),
        (["rollback", "agent", "--to-revision", "-1"], "argument --to-revision: -1 is negative"),
    ],
)
def test_a_negative_value_is_one_line_and_exit_2(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lab(*_: object) -> None:
        raise AssertionError("a lab was opened before the arguments were checked")

    monkeypatch.setattr(cli, "load_project", no_lab)
    monkeypatch.setattr("agentlab.cli.commands_base.load_project", no_lab)
    assert cli.main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {said}; "), line
    assert line.endswith(f"(hint: agentlab {args[0]} --help)"), line


@pytest.mark.parametrize(
    "args",
    [
        [*ROLLOUT, "--delay", "0", "--steps", "10,pause 5s,100", "--max-surge", "25%"],
        ["scale", "agent", "2", "--timeout", "0.5"],
        ["logs", "x", "-n", "5"],
    ],
)
def test_values_of_0_or_more_still_parse(args: list[str]) -> None:
    cli.build_parser().parse_args(args)


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += parsers(child)
    return found


def test_every_number_or_duration_option_refuses_a_negative_value() -> None:
    """A new option with type=int/float, or a DURATION kept as text, would take `-1`
    again (or read `-1s` as a missing value): each goes through agentlab.cli.values."""
    checked = (values.DURATION, values.AMOUNT, values.SECONDS, values.COUNT, values.RATIO,
               values.RPS, values.steps)  # fmt: skip
    loose = []
    for parser in parsers(cli.build_parser()):
        assert parser._negative_number_matcher is values.NEGATIVE, parser.prog
        for action in parser._actions:
            metavar = str(action.metavar or "")
            numeric = action.type in (int, float) or metavar in ("DURATION", "N|P%", "STEPS")
            if action.option_strings and numeric and action.type not in checked:
                loose.append(f"{parser.prog} {action.option_strings[0]}")
    assert not loose


def test_a_malformed_set_names_the_service_given_in_its_hint() -> None:
    with pytest.raises(BadInput) as refused:
        parse_sets(["api"])
    assert (refused.value.message, refused.value.hint) == (
        "--set expects SERVICE=VERSION, got 'api'",
        "--set api=1.2.0",
    )
    assert parse_sets(["api=1.1.0", " db = 2 "]) == {"api": "1.1.0", "db": "2"}
