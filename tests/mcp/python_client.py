"""Drives `ctmuxd mcp` with the official MCP Python SDK (`pip install mcp`): a client no
one here wrote. Run by tests/it/mcp.rs (`mcp_python_sdk_client`) when the SDK is
installed, or by hand against a daemon's tmux server:

    python3 tests/mcp/python_client.py CTMUXD_BINARY SOCKET_NAME PANE_ID

PANE_ID is a pane running a POSIX shell; the daemon's rules must have a rule named `py`
matching `^py-\d+$` (its firing is checked to arrive as a pushed log message). Exits non-zero, saying what differed, on failure.
"""

import asyncio
import importlib.metadata
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def field(obj, snake, camel):
    """An attribute under its SDK 2.x name (snake_case) or its 1.x name (camelCase)."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def structured(result):
    """A tool result's structured content, checked against its text content."""
    assert not field(result, "is_error", "isError"), f"tool failed: {result}"
    content = field(result, "structured_content", "structuredContent")
    text = json.loads(result.content[0].text)
    assert text == content, (text, content)
    return content


def sdk_major():
    """The installed MCP SDK's major version."""
    return int(importlib.metadata.version("mcp").split(".")[0])


async def until_no_waiters(binary, socket):
    """Waits up to 3 s for the daemon to report no run-time waiter (`ctmuxd status`)."""
    for _ in range(60):
        proc = await asyncio.create_subprocess_exec(
            binary, "status", "-L", socket, "--json", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        if json.loads(out)["waiters"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the abandoned wait_for's waiter is still in the daemon")


async def main(binary, socket, pane):
    # The SDK passes only a few variables on; the socket's directory and the tmux binary
    # must be the test's.
    env = {k: v for k, v in os.environ.items() if k.startswith(("XDG_", "CTMUXD_"))}
    env.pop("TMUX", None)
    params = StdioServerParameters(command=binary, args=["mcp", "-L", socket], env=env)
    logs = []
    pushed = asyncio.Event()

    async def on_log(params):
        # Rule firings arrive as MCP log messages (`notifications/message`).
        logs.append(params)
        if isinstance(params.data, dict) and params.data.get("rule") == "py":
            pushed.set()

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            init = await session.initialize()
            assert field(init, "server_info", "serverInfo").name == "ctmuxd", init
            tools = sorted(t.name for t in (await session.list_tools()).tools)
            assert tools == ["capture", "close", "events", "label", "panes", "read", "run", "send",
                             "spawn", "wait_for"], tools
            start = structured(await session.call_tool("read", {"pane": pane}))
            sent = structured(await session.call_tool(
                "send", {"pane": pane, "text": "echo py-$((20+3))", "enter": True,
                         "expect": "^py-23$"}))
            assert sent["matched"]["line"] == "py-23", sent
            # The daemon's rule `py` fired on that line: pushed without being asked for.
            await asyncio.wait_for(pushed.wait(), 10)
            fired = next(p for p in logs if isinstance(p.data, dict) and p.data.get("rule") == "py")
            assert fired.level == "notice" and fired.logger == "ctmuxd", fired
            assert fired.data["line"] == "py-23" and "fired" in fired.data["message"], fired
            got = structured(await session.call_tool(
                "read", {"pane": pane, "cursor": start["cursor"]}))
            assert "py-23" in got["lines"], got
            assert got["first"] == start["cursor"] + 1 and got["gap"] == 0, got
            again = structured(await session.call_tool(
                "read", {"pane": pane, "cursor": got["cursor"]}))
            assert "py-23" not in again["lines"], again
            progress = []

            async def on_progress(done, total, message):
                progress.append(message)

            waited = structured(await session.call_tool(
                "wait_for", {"pane": pane, "pattern": "^py-(?P<n>\\d+)$", "since": 20},
                progress_callback=on_progress))
            assert waited["match"]["captures"]["n"] == "23", waited
            screen = structured(await session.call_tool("capture", {"pane": pane}))
            assert "py-23" in screen["lines"], screen
            # SDK 2.x cancels a call it abandons (its read timeout) with
            # `notifications/cancelled`: the daemon's waiter goes at once, not in 20 s.
            # (1.x only stops waiting, sending nothing.)
            if sdk_major() >= 2:
                try:
                    await session.call_tool(
                        "wait_for", {"pane": pane, "pattern": "^never$", "timeout_ms": 20000},
                        read_timeout_seconds=0.5)
                    raise AssertionError("a wait for a line never printed returned")
                except AssertionError:
                    raise
                except Exception:
                    pass
                await until_no_waiters(binary, socket)
    print("python mcp client: ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
