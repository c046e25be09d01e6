"""Writers of a Windows workstation's artefacts (registry hives, event logs, NTFS) from a case's facts."""
