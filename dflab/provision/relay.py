"""A TCP-to-Unix-socket relay for a whole session, run in one relay container (``python -c <this file's text>``).

Why: a trainee's lab container has no network at all (``network_mode=none``: only loopback, no route
anywhere), and Jupyter listens on a Unix socket in a directory shared with the session's relay
container. The relay sits on a bridge network and publishes one port per trainee on the host's
127.0.0.1; it runs only this code, never trainee code. Docker does not publish ports of containers on
``internal`` networks, so this is how a lab is reachable from the host while it can reach nothing itself.

One relay serves the whole session (one asyncio loop, one port per trainee, each port its own browser
origin so no trainee's page can script another's server): one container instead of one per trainee
halves the engine's work when a cohort starts and costs about 11 MiB once instead of per trainee.

Standard library only, no dflab imports: it is passed as source, so it works with any image that has
Python 3, whatever dflab version that image carries.

Usage: python relay.py SOCKETS_DIR PORT=TRAINEE [PORT=TRAINEE ...]
       (connections to PORT go to SOCKETS_DIR/TRAINEE/jupyter.sock)
"""

import asyncio
import os
import sys

BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
SOCKET_NAME = "jupyter.sock"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until EOF, then pass the half-close on (websockets and HTTP both survive this)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _handle(socket_path: str, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        lab_r, lab_w = await asyncio.open_unix_connection(socket_path)
    except OSError:
        # The lab server is (re)starting: say so in HTTP rather than dropping the connection.
        client_w.write(BAD_GATEWAY)
        client_w.close()
        return
    try:
        await asyncio.gather(_pipe(client_r, lab_w), _pipe(lab_r, client_w))
    finally:
        lab_w.close()
        client_w.close()


def _routes(sockets_dir: str, pairs: list[str]) -> dict[int, str]:
    """``PORT=TRAINEE`` arguments as {port: that trainee's socket path}."""
    routes = {}
    for pair in pairs:
        port, _, trainee = pair.partition("=")
        routes[int(port)] = os.path.join(sockets_dir, trainee, SOCKET_NAME)
    return routes


async def _serve(routes: dict[int, str]) -> None:
    servers = [await asyncio.start_server(lambda r, w, path=path: _handle(path, r, w), "0.0.0.0", port)  # noqa: S104
               for port, path in routes.items()]
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(_serve(_routes(sys.argv[1], sys.argv[2:])))
