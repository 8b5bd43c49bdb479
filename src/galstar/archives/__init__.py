"""Survey archives: the live clients (http, validate, skyserver, legacysurvey, acquire,
btsettl, carmenes, sdss_spectra, sdss_images, mpajhu_dr7).

Import-light on purpose: submodules are imported where used, so that
``import galstar.archives`` pulls in no HTTP or FITS machinery. Nothing here imports
``galstar.simulate``, ``galstar.mock`` or ``galstar.scoring``; the mock archive lives in
:mod:`galstar.mock`.
"""
