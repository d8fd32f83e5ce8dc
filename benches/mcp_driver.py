"""The MCP client side of `cargo bench --bench mcp` (benches/mcp.rs starts the tmux server,
the daemon, the panes and the FIFO, runs this, and prints the table).

Drives `ctmuxd mcp` and, when it is installed in this Python, libtmux-mcp (`pip install
libtmux-mcp`), both over stdio with the official MCP Python SDK, on the same private tmux
server, one after the other in each round, and prints one JSON object with the samples:

- wait: a `wait_for` (ours) / `wait_for_text` (libtmux-mcp) is called for a fresh marker,
  then, once it is surely waiting (150 ms), the marker is written to the FIFO that `cat`
  in the print pane copies to its screen; print -> the call returns, in ms.
- flood: the same with the marker followed by 5,000 numbered lines in one write: whether
  the wait saw the marker within 3 s (hit) or not.
- run: `run` (ours, a bash with `ctmuxd shell-init`) / `run_command` (libtmux-mcp, another
  bash) of `true`: call -> return, in ms.

    python3 benches/mcp_driver.py CTMUXD_BIN SOCKET_NAME PRINT_PANE FIFO RUN_PANE_OURS \
        RUN_PANE_THEIRS N FLOOD_TRIES
"""

import asyncio
import importlib.util
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def field(obj, snake, camel):
    """An attribute under its SDK 2.x name (snake_case) or its 1.x name (camelCase)."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def content(result):
    """A tool result's structured content (or its text parsed), and whether it failed."""
    data = field(result, "structured_content", "structuredContent")
    if data is None and result.content:
        try:
            data = json.loads(result.content[0].text)
        except ValueError:
            data = {"text": result.content[0].text}
    return data or {}, bool(field(result, "is_error", "isError"))


class Side:
    """One MCP server under test: how to call its wait and run tools."""

    def __init__(self, name, session, wait, run):
        self.name = name
        self.session = session
        self.wait = wait
        self.run = run


async def timed_wait(side, fifo, marker, payload, settle=0.15, timeout=3.0):
    """Starts a wait for `marker`, writes `payload` once the wait is in place; returns
    (ms from the write to the return, whether it matched)."""
    call = asyncio.ensure_future(side.wait(marker, timeout))
    await asyncio.sleep(settle)
    t0 = time.perf_counter()
    os.write(fifo, payload)
    found = await call
    return (time.perf_counter() - t0) * 1e3, found


async def main(binary, socket, print_pane, fifo_path, run_ours, run_theirs, n, tries):
    n, tries = int(n), int(tries)
    fifo = os.open(fifo_path, os.O_WRONLY)
    env = {k: v for k, v in os.environ.items() if k.startswith(("XDG_", "CTMUXD_", "TMUX_TMPDIR"))}
    env["PATH"] = os.environ.get("PATH", "")
    env["HOME"] = os.environ.get("HOME", "/")
    have_theirs = importlib.util.find_spec("libtmux_mcp") is not None
    out = {"have_libtmux_mcp": have_theirs, "ours": {}, "theirs": {}}
    async with stdio_client(
        StdioServerParameters(command=binary, args=["mcp", "-L", socket], env=env)
    ) as (r1, w1), ClientSession(r1, w1) as ours:
        await ours.initialize()

        async def ours_wait(marker, timeout):
            res = await ours.call_tool("wait_for", {
                "pane": print_pane, "pattern": f"^{marker}$", "timeout_ms": int(timeout * 1000)})
            data, err = content(res)
            return not err and data.get("match", {}).get("line") == marker

        async def ours_run():
            res = await ours.call_tool("run", {"pane": run_ours, "command": "true"})
            data, err = content(res)
            assert not err and data["status"] == 0, data

        sides = [Side("ours", ours, ours_wait, ours_run)]
        stack = None
        if have_theirs:
            theirs_env = dict(env, LIBTMUX_SOCKET=socket, LIBTMUX_MCP_WAIT_MAX_SECONDS="30")
            params = StdioServerParameters(
                command=sys.executable, args=["-m", "libtmux_mcp"], env=theirs_env)
            # Its per-request INFO lines on stderr would bury the table.
            stack = stdio_client(params, errlog=open(os.devnull, "w"))
            r2, w2 = await stack.__aenter__()
            theirs = ClientSession(r2, w2)
            await theirs.__aenter__()
            await theirs.initialize()

            async def theirs_wait(marker, timeout):
                res = await theirs.call_tool("wait_for_text", {
                    "patterns": [marker], "pane_id": print_pane, "timeout": timeout,
                    "socket_name": socket})
                data, err = content(res)
                return not err and data.get("found") is True

            async def theirs_run():
                res = await theirs.call_tool("run_command", {
                    "command": "true", "pane_id": run_theirs, "socket_name": socket})
                data, err = content(res)
                assert not err and data.get("exit_status") == 0, data

            sides.append(Side("theirs", theirs, theirs_wait, theirs_run))

        for s in sides:
            out[s.name] = {"wait_ms": [], "wait_missed": 0, "flood_hits": 0, "flood_tries": tries,
                           "run_ms": []}
        for i in range(n):
            for s in sides:
                marker = f"mark-{s.name}-{i}"
                ms, found = await timed_wait(s, fifo, marker, f"{marker}\n".encode())
                if found:
                    out[s.name]["wait_ms"].append(ms)
                else:
                    out[s.name]["wait_missed"] += 1
        flood = "".join(f"flood line {k:05d} after the marker\n" for k in range(5000)).encode()
        for i in range(tries):
            for s in sides:
                marker = f"flood-{s.name}-{i}"
                _, found = await timed_wait(s, fifo, marker, f"{marker}\n".encode() + flood)
                out[s.name]["flood_hits"] += int(found)
                await asyncio.sleep(0.3)  # the flood drains before the next try
        for i in range(n):
            for s in sides:
                t0 = time.perf_counter()
                await s.run()
                out[s.name]["run_ms"].append((time.perf_counter() - t0) * 1e3)
        if stack is not None:
            await theirs.__aexit__(None, None, None)
            await stack.__aexit__(None, None, None)
    os.close(fifo)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:9]))
