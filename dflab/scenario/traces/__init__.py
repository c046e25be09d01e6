"""The traces a story leaves on a Linux workstation's root volume, each a pure function of the case's facts.

Logs (``syslog``: auth.log and syslog as Debian 12's rsyslog writes them; ``utmp``: wtmp, btmp, lastlog),
a Firefox profile (``firefox``: places.sqlite, profiles.ini, installs.ini) and user documents made by their own
libraries (``documents``: DOCX, XLSX, PDF, JPEG with EXIF). ``story`` decides once what they all show: the
workstation's boots and desktop sessions on the days before the incident, the story's SSH login, the process
ids of each boot; every generator reads that one plan, so wtmp, auth.log, syslog and the browser agree.
"""
