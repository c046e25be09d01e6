"""FTP sessions as vsftpd and a command-line client speak them: cleartext login, passive STOR."""

from __future__ import annotations

import random

from dflab.errors import EvidenceError
from dflab.evidence.network.conversation import Conversation
from dflab.evidence.network.segment import Segment
from dflab.evidence.network.tcp import TcpSession


def ftp_exchange(seg: Segment, rng: random.Random, t_us: int, client_ip: str, client_port: int, server_ip: str,
                 user: str, password: str, stor_name: str, stor_data: bytes, data_port: int,
                 data_client_port: int, where: str) -> tuple[Conversation, Conversation | None]:
    """The control connection (port 21) and, when a file is stored, the passive data connection."""
    client, server = seg.endpoint(client_ip), seg.endpoint(server_ip)
    ctrl = Conversation("tcp", client, client_port, server, 21)
    cs = TcpSession(ctrl, rng, t_us)

    def command(line: str) -> None:
        cs.send(True, f"{line}\r\n".encode(), reply=True, think_us=rng.randint(3_000, 60_000))

    def answer(line: str) -> None:
        cs.send(False, f"{line}\r\n".encode(), think_us=rng.randint(100, 2_000))

    cs.open()
    answer("220 (vsFTPd 3.0.5)")
    command(f"USER {user}")
    answer("331 Please specify the password.")
    command(f"PASS {password}")
    answer("230 Login successful.")
    command("TYPE I")
    answer("200 Switching to Binary mode.")
    data_conv = None
    if stor_name:
        if not (0 < data_port < 65536 and 0 < data_client_port < 65536):
            raise EvidenceError("FTP STOR needs data_port and data_client_port", where)
        command("PASV")
        h = server_ip.replace(".", ",")
        answer(f"227 Entering Passive Mode ({h},{data_port >> 8},{data_port & 0xFF}).")
        data_conv = Conversation("tcp", client, data_client_port, server, data_port)
        ds = TcpSession(data_conv, rng, cs.end_us + client.react_us(rng))
        ds.open()
        cs.not_before(ds.end_us)
        command(f"STOR {stor_name}")
        answer("150 Ok to send data.")
        ds.not_before(cs.end_us)
        ds.send(True, stor_data)
        ds.close(by_client=True)
        cs.not_before(ds.end_us)
        answer("226 Transfer complete.")
    command("QUIT")
    answer("221 Goodbye.")
    cs.close(by_client=False)
    return ctrl, data_conv
