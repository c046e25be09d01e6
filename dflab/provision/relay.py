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

The local backend's confined labs use :func:`relay_until_exit` the same way, one per lab, from inside the lab.
"""

import asyncio
import os
import socket
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


def relay_until_exit(listener_fd: int, socket_path: str, pid: int) -> int:
    """Relay the connections accepted on ``listener_fd`` (a listening TCP socket) to ``socket_path`` until the child
    ``pid`` ends; its exit code (128 + the signal's number when a signal ended it), as a shell reports it.

    The local backend's confined lab: the listening socket was made in the host's network namespace and inherited
    into the lab's own, where the server listens on ``socket_path`` and nothing of the host can be reached.
    """
    async def relay() -> int:
        loop = asyncio.get_running_loop()
        listener = socket.socket(fileno=listener_fd)
        server = await asyncio.start_server(lambda r, w: _handle(socket_path, r, w), sock=listener)
        ended = loop.create_future()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, lambda: ended.done() or ended.set_result(None))
        await ended
        loop.remove_reader(pidfd)
        server.close()
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return code if code >= 0 else 128 - code

    return asyncio.run(relay())


if __name__ == "__main__":
    asyncio.run(_serve(_routes(sys.argv[1], sys.argv[2:])))
