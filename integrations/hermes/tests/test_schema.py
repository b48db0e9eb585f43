"""The tool schema shipped with the plugin is `lull tool-schema` without `agent`."""

from __future__ import annotations

import json
import os
import subprocess

from lull_hermes.plugin import tool_schema


def test_the_shipped_schema_is_lulls_without_the_agent():
    printed = subprocess.run(
        [os.environ["LULL_BIN"], "tool-schema"], check=True, capture_output=True, text=True
    ).stdout
    expected = json.loads(printed)
    parameters = expected["function"]["parameters"]
    del parameters["properties"]["agent"]
    parameters["required"] = [name for name in parameters["required"] if name != "agent"]
    assert tool_schema() == expected
