"""Survey archives: live clients and the mock archive.

Import-light on purpose: submodules (``skyserver``, ``legacysurvey``, ``acquire``,
``mock`` ...) are imported where used, so that ``import galstar.archives`` pulls in
neither GalSim nor astroquery.
"""
