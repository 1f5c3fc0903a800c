"""Maps on pages: a place's layers drawn as SVG in the reader's language (fpic.geo.svg), and the
figures of its table formatted for the reader."""

from __future__ import annotations

from babel.numbers import format_decimal
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from fpic.read.places import Place


def map_svg(place: Place, title: str, description: str, id_prefix: str) -> Markup | None:
    """The place's map, ready to inline, or None when there is nothing to draw."""
    from fpic.geo.svg import render_map  # the geometry libraries load with the first map

    svg = render_map(place.layers, _, title=title, description=description, id_prefix=id_prefix)
    # the renderer escapes every text it writes: its output is markup, not text
    return Markup(svg) if svg is not None else None


def kilometres(metres: int | None) -> str:
    """A distance in the reader's number format: "3.4 km", or "850 m" under a kilometre."""
    if metres is None:
        return ""
    if metres < 1000:
        return _("%(m)s m", m=format_decimal(metres, locale=_locale()))
    return _("%(km)s km", km=format_decimal(round(metres / 1000, 1), locale=_locale()))


def hectares(square_metres: int | None) -> str:
    """An area in hectares (1 ha = 10,000 m²), or km² from 100 km² up."""
    if not square_metres:
        return ""
    if square_metres >= 100_000_000:
        return _("%(km2)s km²", km2=format_decimal(round(square_metres / 1e6), locale=_locale()))
    return _("%(ha)s ha", ha=format_decimal(round(square_metres / 10_000, 1), locale=_locale()))


def _locale() -> str:
    return str(get_locale() or "en")


GLOBALS = {"kilometres": kilometres, "hectares": hectares}
