"""The passive-microwave constellation of the twin: instruments, channels, satellites.

Four instrument kinds, after the real ones (values rounded from their public
specifications):

========  ===========  ==========  =========  ========  ===========================
name      scan         altitude    swath      pixels    channels (GHz)
========  ===========  ==========  =========  ========  ===========================
gmi       conical 52.8°  407 km    885 km     221       10.65–183.31±7, 13 channels
amsr2     conical 55°    700 km    1450 km    243       10.65–89.0, 10 channels
ssmis     conical 53.1°  833 km    1700 km    180       19.35–183.31±6.6, 11 channels
mhs       cross-track    850 km    ±49.4°     90        89.0–190.31, 5 channels
========  ===========  ==========  =========  ========  ===========================

Footprints (``footprint_km``: geometric mean of the 3-dB ellipse) shrink with
frequency for the conical imagers; the cross-track sounder's grow with the scan
angle (1.1° beam). Each instrument also carries the skill of its own rain
retrieval (:class:`RetrievalSkill`): conical imagers see the emission of liquid
rain over the sea and retrieve best, sounders only see ice scattering and
retrieve worst. ``imerg_code`` is the instrument's ``MWprecipSource`` value in
IMERG V07 (0 no observation, 1 TMI, 3 AMSR, 4 SSMI, 5 SSMIS, 6 AMSU-B, 7 MHS,
9 GMI, 11 ATMS; as decoded by gpm_api).

Satellites: the GPM core (GMI + DPR, 65° inclination, precessing through the
diurnal cycle in ~46 days), GCOM-W1 (AMSR2), three DMSP (SSMIS) and three
NOAA/MetOp (MHS) on sun-synchronous orbits with their approximate local times
of the ascending node.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Channel", "RetrievalSkill", "Instrument", "Satellite", "INSTRUMENTS", "SATELLITES", "instrument"]


@dataclass(frozen=True)
class Channel:
    """One radiometer channel.

    Attributes
    ----------
    frequency_ghz : float
        Centre frequency (for 183.31±x double side bands, the upper one is not
        stored: ``label`` says it).
    polarization : str
        ``"V"``, ``"H"`` or the cross-track quasi-polarizations ``"QV"``, ``"QH"``.
    footprint_km : float
        Effective footprint (3-dB, geometric mean of the ellipse) at nadir or on
        the conical scan.
    noise_k : float
        Radiometric noise (NEΔT), K.
    label : str
        Name as usually written (``"89.0V"``, ``"183.31±7V"``).
    """

    frequency_ghz: float
    polarization: str
    footprint_km: float
    noise_k: float
    label: str


@dataclass(frozen=True)
class RetrievalSkill:
    """How well an instrument's own rain retrieval works.

    Attributes
    ----------
    resolution_km : float
        Effective resolution of the rain estimate (None: the footprint of each pixel).
    error_sigma : float
        Standard deviation of the log of the multiplicative random error.
    detection_mm_h : float
        Rates below it are reported as 0.
    emission_over_sea : bool
        The low-frequency channels see liquid-rain emission over the sea (imagers).
    liquid_weight_land : float
        Weight of the liquid rain in what the retrieval sees over land (the rest is
        ice scattering); also used everywhere when ``emission_over_sea`` is False.
    correlation : float
        Typical correlation of the retrieval with the truth (IMERG's quality index).
    """

    resolution_km: float | None
    error_sigma: float
    detection_mm_h: float
    emission_over_sea: bool
    liquid_weight_land: float
    correlation: float


@dataclass(frozen=True)
class Instrument:
    """A passive-microwave instrument kind.

    Attributes
    ----------
    name : str
        Short name (group ``pmw/<name>`` of the twin store).
    scan : str
        ``"conical"`` or ``"cross-track"``.
    imerg_code : int
        IMERG V07 ``MWprecipSource`` code.
    altitude_km : float
        Orbit altitude.
    swath_km : float
        Swath width (conical); for cross-track it follows from ``max_scan_deg``.
    n_pixels : int
        Pixels per scan.
    scan_spacing_km : float
        Along-track distance between consecutive scans.
    incidence_deg : float
        Earth incidence angle (conical).
    max_scan_deg : float
        Largest scan angle off nadir (cross-track).
    beam_deg : float
        3-dB beam width (cross-track footprint growth).
    channels : tuple of Channel
    retrieval : RetrievalSkill
    """

    name: str
    scan: str
    imerg_code: int
    altitude_km: float
    swath_km: float
    n_pixels: int
    scan_spacing_km: float
    channels: tuple[Channel, ...]
    retrieval: RetrievalSkill
    incidence_deg: float = 0.0
    max_scan_deg: float = 0.0
    beam_deg: float = 0.0


@dataclass(frozen=True)
class Satellite:
    """A platform carrying an instrument.

    Attributes
    ----------
    name : str
    instrument : str
        Name of its instrument (:data:`INSTRUMENTS`).
    inclination_deg : float
    ascending_node_hour : float
        Local solar time of the ascending node (at the reference date for a
        precessing orbit).
    node_drift_h_per_day : float
        Change of that local time per day (0 for sun-synchronous orbits).
    """

    name: str
    instrument: str
    inclination_deg: float
    ascending_node_hour: float
    node_drift_h_per_day: float = 0.0


def _channels(*specs) -> tuple[Channel, ...]:
    return tuple(Channel(f, p, fp, ne, label) for f, p, fp, ne, label in specs)


INSTRUMENTS: dict[str, Instrument] = {
    "gmi": Instrument(
        name="gmi", scan="conical", imerg_code=9, altitude_km=407.0, swath_km=885.0, n_pixels=221,
        scan_spacing_km=13.2, incidence_deg=52.8,
        channels=_channels(
            (10.65, "V", 25.0, 0.8, "10.65V"), (10.65, "H", 25.0, 0.8, "10.65H"),
            (18.7, "V", 14.0, 0.8, "18.7V"), (18.7, "H", 14.0, 0.8, "18.7H"),
            (23.8, "V", 12.0, 0.8, "23.8V"),
            (36.64, "V", 10.5, 0.6, "36.64V"), (36.64, "H", 10.5, 0.6, "36.64H"),
            (89.0, "V", 5.8, 0.6, "89.0V"), (89.0, "H", 5.8, 0.6, "89.0H"),
            (166.0, "V", 5.5, 1.0, "166.0V"), (166.0, "H", 5.5, 1.0, "166.0H"),
            (183.31, "V", 5.5, 1.0, "183.31±3V"), (183.31, "V", 5.5, 1.0, "183.31±7V"),
        ),
        retrieval=RetrievalSkill(10.0, 0.30, 0.1, True, 0.45, 0.85),
    ),
    "amsr2": Instrument(
        name="amsr2", scan="conical", imerg_code=3, altitude_km=700.0, swath_km=1450.0, n_pixels=243,
        scan_spacing_km=10.0, incidence_deg=55.0,
        channels=_channels(
            (10.65, "V", 32.0, 0.7, "10.65V"), (10.65, "H", 32.0, 0.7, "10.65H"),
            (18.7, "V", 18.0, 0.7, "18.7V"), (18.7, "H", 18.0, 0.7, "18.7H"),
            (23.8, "V", 15.0, 0.6, "23.8V"), (23.8, "H", 15.0, 0.6, "23.8H"),
            (36.5, "V", 9.5, 0.7, "36.5V"), (36.5, "H", 9.5, 0.7, "36.5H"),
            (89.0, "V", 4.5, 1.2, "89.0V"), (89.0, "H", 4.5, 1.2, "89.0H"),
        ),
        retrieval=RetrievalSkill(13.0, 0.40, 0.15, True, 0.35, 0.78),
    ),
    "ssmis": Instrument(
        name="ssmis", scan="conical", imerg_code=5, altitude_km=833.0, swath_km=1700.0, n_pixels=180,
        scan_spacing_km=12.5, incidence_deg=53.1,
        channels=_channels(
            (19.35, "V", 55.0, 0.4, "19.35V"), (19.35, "H", 55.0, 0.4, "19.35H"),
            (22.235, "V", 50.0, 0.7, "22.235V"),
            (37.0, "V", 35.0, 0.4, "37.0V"), (37.0, "H", 35.0, 0.4, "37.0H"),
            (91.655, "V", 14.0, 0.9, "91.655V"), (91.655, "H", 14.0, 0.9, "91.655H"),
            (150.0, "H", 14.0, 0.9, "150.0H"),
            (183.31, "H", 14.0, 1.0, "183.31±1H"), (183.31, "H", 14.0, 1.0, "183.31±3H"),
            (183.31, "H", 14.0, 1.0, "183.31±6.6H"),
        ),
        retrieval=RetrievalSkill(20.0, 0.40, 0.2, True, 0.35, 0.75),
    ),
    "mhs": Instrument(
        name="mhs", scan="cross-track", imerg_code=7, altitude_km=850.0, swath_km=0.0, n_pixels=90,
        scan_spacing_km=16.7, max_scan_deg=49.44, beam_deg=1.1,
        channels=_channels(
            (89.0, "QV", 16.0, 0.3, "89.0QV"), (157.0, "QV", 16.0, 0.5, "157.0QV"),
            (183.311, "QH", 16.0, 0.6, "183.311±1QH"), (183.311, "QH", 16.0, 0.7, "183.311±3QH"),
            (190.311, "QV", 16.0, 0.6, "190.311QV"),
        ),
        retrieval=RetrievalSkill(None, 0.65, 0.4, False, 0.1, 0.55),
    ),
}

SATELLITES: tuple[Satellite, ...] = (
    Satellite("GPM", "gmi", 65.0, 13.0, node_drift_h_per_day=-24.0 / 46.0),
    Satellite("GCOM-W1", "amsr2", 98.2, 13.5),
    Satellite("F16", "ssmis", 98.9, 16.2),
    Satellite("F17", "ssmis", 98.8, 17.6),
    Satellite("F18", "ssmis", 98.9, 19.5),
    Satellite("NOAA-19", "mhs", 99.2, 20.2),
    Satellite("MetOp-B", "mhs", 98.7, 21.5),
    Satellite("MetOp-C", "mhs", 98.7, 21.5),
)


def instrument(name: str) -> Instrument:
    """The instrument called ``name``; a KeyError lists the known ones."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(f"unknown microwave instrument {name!r}; known: {', '.join(INSTRUMENTS)}") from None
