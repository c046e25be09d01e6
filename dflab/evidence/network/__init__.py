"""Network evidence: the packet capture of the suspect's segment (pcap and pcapng).

Planned flows of the case (DNS, HTTP, FTP, raw TCP exfiltration, SMTP, IMAP) are rendered
as complete, checksummed sessions at their planned times and merged by time
with seeded benign noise.  :func:`write_network` is the entry point.
"""

from dflab.evidence.network.writer import write_network

__all__ = ["write_network"]
