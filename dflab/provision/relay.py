"""A TCP-to-Unix-socket relay, run inside a trainee's proxy container (``python -c <this file's text>``).

Why: the trainee's lab container has no network at all (``network_mode=none``: only loopback, no
route anywhere), and Jupyter listens on a Unix socket in a directory shared with a tiny proxy
container. The proxy sits on a bridge network and publishes one port on the host's 127.0.0.1; it runs
only this code, never trainee code. Docker 20.10 does not publish ports of containers on ``internal``
networks, so this is how a lab is reachable from the host while it can reach nothing itself.

Standard library only, no dflab imports: it is passed as source, so it works with any image that has
Python 3, whatever dflab version that image carries.

Usage: python relay.py SOCKET_PATH PORT
"""

import asyncio
import sys

BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


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


async def _serve(socket_path: str, port: int) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(socket_path, r, w), "0.0.0.0", port)  # noqa: S104
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
