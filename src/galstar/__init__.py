"""galstar: survey archives to trained models of galaxy and stellar properties."""

__version__ = "0.1.0"
