"""Where a project is: its area, the territories of the communities it may affect, and the
protected areas, critical habitat, Key Biodiversity Areas and legacy mine sites around it.

A map a person gives is read into one valid (Multi)Polygon in WGS 84 (``shapes``); distances
and areas are measured in metres on the ellipsoid (``measure``); reference datasets such as the
World Database on Protected Areas are imported (``reference``) and a project is screened against
them and against the territories with a spatial index (``screening``); maps are drawn as SVG on
the server (``svg``).

The names below need no geometry library: the engine, the register and the command line import
them without loading GEOS, PROJ and numpy, which only an action that reads a map or screens
does (about 28 MB and half a second a process).
"""

from __future__ import annotations

from fpic.i18n import Reason

GEOJSON = "application/geo+json"
KML = "application/vnd.google-earth.kml+xml"
ZIP = "application/zip"
#: the kinds of file a map may come as
MAP_TYPES = (GEOJSON, KML, ZIP)
#: how far around the project a screening looks unless told otherwise (issue 17: 10 km)
DEFAULT_BUFFER_M = 10_000
#: the most a screening may look around a project
MAX_BUFFER_M = 100_000


class AreaRefused(Exception):
    """Why a map cannot be an area: a reason the interface shows in the reader's language."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.reason = Reason(code, message, dict(params))
