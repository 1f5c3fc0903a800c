"""Where a project is: its area, the territories of the communities it may affect, and the
protected areas, critical habitat, Key Biodiversity Areas and legacy mine sites around it.

A map a person gives is read into one valid (Multi)Polygon in WGS 84 (``shapes``); distances
and areas are measured in metres on the ellipsoid (``measure``); reference datasets such as the
World Database on Protected Areas are imported (``reference``) and a project is screened against
them and against the territories with a spatial index (``screening``); maps are drawn as SVG on
the server (``svg``).
"""
