"""The boxes of the twin world: size, projection, terrain, climate and radars.

A :class:`Region` says everything the generator needs to know about a place:
its grid (``nx`` × ``ny`` cells of ``dx`` metres every ``dt``, on a Lambert
azimuthal equal-area projection centred on the box), how its terrain is built
(:class:`Orography`), what its weather is like (:class:`Climate`) and which
ground radars look at it (:class:`RadarSite`). Regions are looked up by name in
:data:`REGIONS` with :func:`get_region`, which also accepts overrides so tests
can shrink a box (``get_region("med", nx=96, ny=96)``).

Conventions: projection coordinates ``x`` (east) and ``y`` (north) are in
metres, cell centres, with the box centre at (0, 0). The ``y`` coordinate
*increases northward with the row index* (row 0 is the southern edge). All
positions inside a region (ridges, coasts, radar sites) are given in these
coordinates, so a shrunk box keeps its radar in the same place relative to the
centre.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RadarSite", "Ridge", "Orography", "Climate", "Region", "REGIONS", "get_region", "region_names"]


@dataclass(frozen=True)
class RadarSite:
    """A ground weather radar.

    Attributes
    ----------
    name : str
        Site identifier.
    x, y : float
        Position in the region's projection (m).
    range_m : float
        Maximum range of the rain product (m); NaN beyond.
    band : str
        ``"C"`` (5.6 GHz) or ``"X"`` (9.4 GHz); sets attenuation.
    elevation_deg : float
        Elevation of the lowest beam used for the rain product (degrees).
    beamwidth_deg : float
        Half-power beam width (degrees).
    tower_m : float
        Antenna height above the ground (m).
    """

    name: str
    x: float
    y: float
    range_m: float
    band: str = "C"
    elevation_deg: float = 0.5
    beamwidth_deg: float = 1.0
    tower_m: float = 20.0


@dataclass(frozen=True)
class Ridge:
    """A mountain ridge: a Gaussian crest along a segment.

    Attributes
    ----------
    x0, y0, x1, y1 : float
        End points of the crest line (m).
    height_m : float
        Crest height above the surroundings (m), modulated by fractal peaks and passes.
    width_m : float
        Gaussian half-width across the crest (m).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    height_m: float
    width_m: float


@dataclass(frozen=True)
class Orography:
    """How the terrain of a region is built.

    Attributes
    ----------
    base_m : float
        Mean land altitude far from ridges (m).
    hills_m : float
        Standard deviation of the fractal hills (m).
    ridges : tuple of Ridge
        Mountain ridges added to the hills.
    sea : str or None
        Side of the box covered by sea: ``"south"``, ``"west"``, ``"south-west"`` or None.
    coast_m : float
        Position of the mean coastline (m): ``y`` for a southern sea, ``x`` for a western one.
    """

    base_m: float = 100.0
    hills_m: float = 40.0
    ridges: tuple[Ridge, ...] = ()
    sea: str | None = None
    coast_m: float = 0.0


@dataclass(frozen=True)
class Climate:
    """What the weather of a region is like.

    Attributes
    ----------
    mean_wind : tuple of float
        Mean steering wind (u eastward, v northward) in m/s.
    wind_variability : float
        Standard deviation of the domain-mean wind around ``mean_wind`` (m/s), over days.
    wind_perturbation : float
        Standard deviation of the smooth large-scale spatial wind perturbation (m/s).
    stratiform_coverage : float
        Wet fraction (> 0.1 mm/h) of the stratiform rain in its wettest spells.
    convective_coverage : float
        Wet fraction of the convective rain at the afternoon maximum of its wettest spells.
    dry_fraction : float
        Fraction of the time the region lies in dry spells (0..1).
    diurnal_amplitude : float
        Relative amplitude of the diurnal cycle of convection (0 none, 1 none at night).
    diurnal_peak_hour : float
        Local solar hour of the convective maximum.
    stratiform_median, convective_median : float
        Median rate (mm/h) of the wet pixels of each kind of rain.
    max_rain : float
        Soft ceiling of the rain rate (mm/h).
    orographic_gain : float
        Rain enhancement per m/s of upslope (forced) vertical wind, dimensionless per (m/s).
    lee_drying : float
        Rain reduction per m/s of downslope vertical wind on lee slopes.
    """

    mean_wind: tuple[float, float] = (8.0, 2.0)
    wind_variability: float = 2.5
    wind_perturbation: float = 1.5
    stratiform_coverage: float = 0.3
    convective_coverage: float = 0.04
    dry_fraction: float = 0.25
    diurnal_amplitude: float = 0.7
    diurnal_peak_hour: float = 16.0
    stratiform_median: float = 1.0
    convective_median: float = 4.0
    max_rain: float = 90.0
    orographic_gain: float = 4.0
    lee_drying: float = 2.0


@dataclass(frozen=True)
class Region:
    """A box of the twin world.

    Attributes
    ----------
    name : str
        Registry name.
    description : str
        One line on what the box stands for.
    center_lat, center_lon : float
        Centre of the box (degrees); origin of its LAEA projection.
    nx, ny : int
        Number of cells along x (east) and y (north).
    dx : float
        Cell size (m), the same along x and y.
    dt : pandas.Timedelta
        Time step of the truth and radar fields.
    orography : Orography
        How the terrain is built.
    climate : Climate
        What the weather is like.
    radars : tuple of RadarSite
        Ground radars seeing the box.
    default_days : float
        Days generated when a caller does not say.
    satellite_lon : float
        Sub-satellite longitude of the geostationary imager (degrees east).
    satellite_height : float
        Height of the geostationary satellite above the surface (m), for parallax.
    """

    name: str
    description: str
    center_lat: float
    center_lon: float
    nx: int
    ny: int
    dx: float
    dt: pd.Timedelta = pd.Timedelta("5min")
    orography: Orography = field(default_factory=Orography)
    climate: Climate = field(default_factory=Climate)
    radars: tuple[RadarSite, ...] = ()
    default_days: float = 1.0
    satellite_lon: float = 0.0
    satellite_height: float = 35_786_000.0

    @property
    def crs(self) -> str:
        """PROJ string of the region's Lambert azimuthal equal-area projection (metres)."""
        return (
            f"+proj=laea +lat_0={self.center_lat} +lon_0={self.center_lon} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )

    @property
    def x(self) -> np.ndarray:
        """Cell-centre x coordinates (m), increasing eastward, centred on 0."""
        return (np.arange(self.nx) - (self.nx - 1) / 2.0) * self.dx

    @property
    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (m), increasing northward with the row index."""
        return (np.arange(self.ny) - (self.ny - 1) / 2.0) * self.dx

    @property
    def steps_per_day(self) -> int:
        """Number of time steps in a day."""
        return int(round(pd.Timedelta("1D") / self.dt))

    def replace(self, **changes) -> Region:
        """A copy with some fields changed (``region.replace(nx=64, ny=64)``)."""
        return dataclasses.replace(self, **changes)


_KM = 1000.0

REGIONS: dict[str, Region] = {
    "idf": Region(
        name="idf",
        description="Ile-de-France-like box: flat, mostly stratiform, one C-band radar in the centre",
        center_lat=48.8,
        center_lon=2.4,
        nx=256,
        ny=256,
        dx=1 * _KM,
        orography=Orography(
            base_m=90.0, hills_m=28.0, ridges=(Ridge(-120 * _KM, -70 * _KM, 60 * _KM, -110 * _KM, 55.0, 25 * _KM),)
        ),
        climate=Climate(),
        radars=(RadarSite("idf_c", 0.0, 0.0, 250 * _KM, "C", elevation_deg=0.5, tower_m=30.0),),
        default_days=3.0,
    ),
    "med": Region(
        name="med",
        description="Mediterranean-like box: sea in the south, coastal ranges to ~2500 m, intense convection",
        center_lat=44.0,
        center_lon=4.5,
        nx=256,
        ny=256,
        dx=1 * _KM,
        orography=Orography(
            base_m=250.0,
            hills_m=180.0,
            ridges=(
                Ridge(-140 * _KM, 25 * _KM, 140 * _KM, 45 * _KM, 1700.0, 14 * _KM),
                Ridge(-60 * _KM, -20 * _KM, 10 * _KM, 5 * _KM, 700.0, 8 * _KM),
            ),
            sea="south",
            coast_m=-60 * _KM,
        ),
        climate=Climate(
            mean_wind=(3.0, 7.0),
            wind_variability=2.5,
            stratiform_coverage=0.22,
            convective_coverage=0.09,
            dry_fraction=0.35,
            diurnal_amplitude=0.85,
            stratiform_median=1.3,
            convective_median=5.0,
            max_rain=160.0,
            orographic_gain=2.0,
            lee_drying=1.5,
        ),
        radars=(RadarSite("med_c", -20 * _KM, -45 * _KM, 150 * _KM, "C", elevation_deg=1.3, tower_m=20.0),),
        default_days=2.0,
    ),
    "xband": Region(
        name="xband",
        description="X-band-like radar box: 250 m cells, 60 km range, strong attenuation, hilly",
        center_lat=45.2,
        center_lon=5.7,
        nx=512,
        ny=512,
        dx=0.25 * _KM,
        orography=Orography(
            base_m=300.0, hills_m=120.0, ridges=(Ridge(-60 * _KM, 40 * _KM, 50 * _KM, 20 * _KM, 600.0, 5 * _KM),)
        ),
        climate=Climate(mean_wind=(6.0, 3.0), convective_coverage=0.07, max_rain=120.0),
        radars=(RadarSite("xband_x", 0.0, 0.0, 60 * _KM, "X", elevation_deg=1.0, beamwidth_deg=1.0, tower_m=15.0),),
        default_days=1.0,
    ),
    "france": Region(
        name="france",
        description="France-sized box (1500 km at 1 km) for the chunked, bounded-memory path",
        center_lat=46.5,
        center_lon=2.5,
        nx=1500,
        ny=1500,
        dx=1 * _KM,
        orography=Orography(
            base_m=150.0,
            hills_m=90.0,
            ridges=(
                Ridge(380 * _KM, -380 * _KM, 420 * _KM, 80 * _KM, 2800.0, 45 * _KM),
                Ridge(-450 * _KM, -560 * _KM, -50 * _KM, -600 * _KM, 2300.0, 30 * _KM),
                Ridge(-20 * _KM, -250 * _KM, 60 * _KM, -150 * _KM, 1100.0, 60 * _KM),
            ),
            sea="south-west",
            coast_m=-620 * _KM,
        ),
        climate=Climate(convective_coverage=0.05, max_rain=130.0),
        radars=tuple(
            RadarSite(f"fr{i}{j}", (i - 1) * 480 * _KM, (j - 1) * 480 * _KM, 260 * _KM, "C", tower_m=25.0)
            for i in range(3)
            for j in range(3)
        ),
        default_days=1.0,
    ),
    "europe_wide": Region(
        name="europe_wide",
        description="Wide continental box (central-eastern Europe, 4 km) with a different climate, for generalisation",
        center_lat=50.5,
        center_lon=17.0,
        nx=512,
        ny=512,
        dx=4 * _KM,
        orography=Orography(
            base_m=220.0,
            hills_m=120.0,
            ridges=(
                Ridge(-500 * _KM, -650 * _KM, 350 * _KM, -450 * _KM, 1800.0, 70 * _KM),
                Ridge(150 * _KM, -300 * _KM, 500 * _KM, -380 * _KM, 1500.0, 50 * _KM),
            ),
        ),
        climate=Climate(
            mean_wind=(10.0, -1.0),
            wind_variability=3.5,
            stratiform_coverage=0.25,
            convective_coverage=0.06,
            dry_fraction=0.3,
            diurnal_amplitude=0.95,
            diurnal_peak_hour=15.0,
            max_rain=110.0,
        ),
        radars=tuple(
            RadarSite(f"eu{i}{j}", (i - 0.5) * 700 * _KM, (j - 0.5) * 700 * _KM, 250 * _KM, "C")
            for i in range(2)
            for j in range(2)
        ),
        default_days=1.0,
    ),
}


def region_names() -> list[str]:
    """Names of every registered region."""
    return list(REGIONS)


def get_region(region: str | Region = "idf", **overrides) -> Region:
    """A registered region by name (or a Region passed through), with overrides.

    Parameters
    ----------
    region : str or Region
        Registry name (see :func:`region_names`) or a Region.
    **overrides
        Fields to change, e.g. ``nx=64, ny=64`` for a small test box.

    Raises
    ------
    KeyError
        When the name is not registered; the message lists the known names.
    """
    if isinstance(region, str):
        try:
            region = REGIONS[region]
        except KeyError:
            raise KeyError(f"unknown twin region {region!r}; known regions: {', '.join(REGIONS)}") from None
    return region.replace(**overrides) if overrides else region
