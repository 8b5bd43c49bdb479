"""The simulated universe, physics only: a correlated galaxy/star population on a sky
patch, and its GalSim renderer. No file formats: :mod:`galstar.mock` writes the universe
as the archives' files. Submodules are imported on use (GalSim is heavy):

- :mod:`galstar.simulate.photometry`: magnitudes, depths, Sersic/Moffat light profiles;
- :mod:`galstar.simulate.population`: galaxies, stars, quasars, MPA-JHU estimates;
- :mod:`galstar.simulate.sky`: projection, placement, DR9 bricks, blend definition;
- :mod:`galstar.simulate.render`: postage-stamp rendering of a cutout;
- :mod:`galstar.simulate.stellar_spectra`: M-dwarf model spectra and stellar parameters;
- :mod:`galstar.simulate.carmenes_observing`: CARMENES echelle observations of them;
- :mod:`galstar.simulate.galaxy_spectra`: SDSS galaxy spectra (continua, lines, noise);
- :mod:`galstar.simulate.sdss_imaging`: SDSS ugriz fluxes, field PSFs and depths.
"""
