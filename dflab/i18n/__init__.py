"""Labs in several languages: what of a lab is translated (``units``), its gettext catalogs (``catalog``)."""
