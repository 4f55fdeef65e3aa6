#!/usr/bin/env python3
"""Echo server on Python's `websockets`, for actix-tether's interop tests.

Usage: ws_echo.py [--port N] [--compression deflate|none] [--no-context-takeover]

Binds 127.0.0.1 (port 0 unless --port) and prints the chosen port alone on
the first line of stdout. If the `websockets` package cannot be imported, the
first line is instead `unavailable: <why>` and the exit code is 3; if the port
cannot be bound, `bind failed: <why>` and exit code 4.

Every text and binary message is echoed as it came. The text message
`__extensions__` is answered instead with two lines describing this
connection's handshake:
    agreed: <Sec-WebSocket-Extensions of the server's response, or empty>
    offered: <Sec-WebSocket-Extensions of the client's request, or empty>
Pings are answered by the library. The server exits when stdin closes, so it
never outlives the test that started it.
"""

import argparse
import asyncio
import sys

EXIT_UNAVAILABLE = 3
EXIT_BIND_FAILED = 4
# Large enough for the tests' biggest message; the library's default is 1 MiB.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024

try:
    import websockets
    from websockets.asyncio.server import serve
    from websockets.extensions.permessage_deflate import (
        ServerPerMessageDeflateFactory,
    )
except ImportError as error:
    print(f"unavailable: python package websockets: {error}", flush=True)
    sys.exit(EXIT_UNAVAILABLE)


def header(headers, name):
    return ", ".join(headers.get_all(name))


async def echo(connection):
    async for message in connection:
        if message == "__extensions__":
            agreed = header(connection.response.headers, "Sec-WebSocket-Extensions")
            offered = header(connection.request.headers, "Sec-WebSocket-Extensions")
            await connection.send(f"agreed: {agreed}\noffered: {offered}")
        else:
            await connection.send(message)


def compression_options(args):
    if args.compression == "none":
        return {"compression": None}
    if args.no_context_takeover:
        factory = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
        )
        return {"compression": None, "extensions": [factory]}
    # The library's own default permessage-deflate settings.
    return {"compression": "deflate"}


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)


async def main(args):
    try:
        server = await serve(
            echo,
            "127.0.0.1",
            args.port,
            max_size=MAX_MESSAGE_SIZE,
            **compression_options(args),
        )
    except OSError as error:
        print(f"bind failed: {error}", flush=True)
        sys.exit(EXIT_BIND_FAILED)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await stdin_closed()


def parse_args():
    parser = argparse.ArgumentParser(description="websockets echo server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--compression", choices=["deflate", "none"], default="none")
    parser.add_argument("--no-context-takeover", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
