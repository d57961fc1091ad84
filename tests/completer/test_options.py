"""The one table of options: README's copy of it, and the checks every front end shares."""

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from completer.options import CLI, COMPLETE, HTTP, LSP, OPTIONS, BadOption, Options, add_flags, flags, markdown, read
from completer.sampler import DenoiseSettings

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXTENSION_OWNS = {"model", "languages", "drafts"}  # settings the VS Code extension decides and always sends


def test_readme_holds_the_table_the_options_make():
    table = re.search(r"<!-- options table: python -m completer.options --markdown -->\n(.*?)\n<!-- end of the options table -->",
                      README.read_text(encoding="utf-8"), re.S)
    assert table is not None and table.group(1) == markdown(), "run python -m completer.options --markdown into README"


def test_the_default_options_decode_with_the_samplers_defaults():
    assert Options().decoding("free") == DenoiseSettings(effort="medium")


@pytest.mark.parametrize(("name", "value"), [
    ("max_tokens", True), ("max_tokens", 8.0), ("max_tokens", "8"), ("temperature", math.nan), ("temperature", math.inf),
    ("seed", -1), ("seed", 2**64), ("effort", None), ("effort", "max"), ("span", "word"), ("threshold", 0),
])
def test_a_value_of_another_type_or_out_of_range_is_refused_by_name(name: str, value: object):
    with pytest.raises(BadOption, match=f"^{name} must be ") as error:
        read({name: value}, HTTP)
    assert error.value.name == name


def test_a_whole_number_where_a_number_goes_and_null_where_null_may_go_are_taken():
    assert read({"temperature": 1, "seed": None}, HTTP) == {"temperature": 1.0, "seed": None}
    assert read({"seed": 2**64 - 1}, HTTP) == {"seed": 2**64 - 1}


def test_flags_not_given_keep_the_tables_defaults_and_given_ones_are_converted_and_checked():
    parser = argparse.ArgumentParser()
    add_flags(parser, CLI, COMPLETE)
    assert flags(parser.parse_args([]), CLI, COMPLETE) == {}
    given = flags(parser.parse_args(["--max-tokens", "8", "--no-reuse-keys", "--threshold", "0.5", "--seed", "3",
                                     "--span", "line"]), CLI, COMPLETE)
    assert given == {"max_tokens": 8, "reuse_keys": False, "threshold": 0.5, "seed": 3, "span": "line"}
    with pytest.raises(BadOption, match=r"^--max-tokens must be a whole number from 1 to 1024, got 'lots'$"):
        flags(parser.parse_args(["--max-tokens", "lots"]), CLI, COMPLETE)


def test_the_vscode_extension_declares_each_server_option_it_has_as_the_table_does_and_unset():
    properties = json.loads((REPO / "editors" / "vscode" / "package.json").read_text())["contributes"]["configuration"]["properties"]
    declared = {o.key: o for o in OPTIONS if LSP in o.takes and f"completer.{o.key}" in properties and o.key not in EXTENSION_OWNS}
    assert set(declared) == {"maxTokens", "effort", "threshold", "editThreshold", "minScore", "arena", "arenaStoreCode"}
    for key, o in declared.items():
        schema = properties[f"completer.{key}"]
        assert schema["default"] is None and "null" in schema["type"], key
        assert [choice for choice in schema.get("enum", []) if choice is not None] == list(o.choices), key
        low = "exclusiveMinimum" if o.above_low else "minimum"
        assert (schema.get(low), schema.get("maximum")) == (o.low, o.high), key
