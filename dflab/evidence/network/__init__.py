"""Network evidence: the capture of the suspect's segment (pcap and pcapng), as a mirror port saw it.

Planned flows of the case (DNS, HTTP, FTP, raw TCP exfiltration, SMTP, IMAP) are rendered as complete,
checksummed sessions a moment after their planned times and merged by time with the background of the machine the
capture host is (a Debian 12 GNOME desktop with Firefox ESR: TLS to the sites it opens, DNS by glibc to the DHCP
server's resolver behind Firefox's 60 s cache, systemd-timesyncd's NTP, Firefox's captive-portal check, ARP,
NetworkManager's DHCP renewals at the times the logs show, the segment's multicast DNS and avahi's answers).
Every packet, planned or not, is built by the same TCP/IP code from its host's OS profile, so nothing but the
story tells them apart (``tells.py`` measures it). :func:`write_network` is the entry point.
"""

from dflab.evidence.network.writer import write_network

__all__ = ["write_network"]
