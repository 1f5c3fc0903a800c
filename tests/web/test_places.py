"""Maps on the pages, as people use them: an area sent as a zipped shapefile through the form,
the case page's map and table (no script, in every language), a confidential territory's shape
kept from those the community did not allow, the project's landscape with the other projects
reaching the same territory, the legacy site register, and the printable record."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fpic.accounts.registry import add_legacy_site, add_project, import_areas
from tests.evidence.samples import zipped_shapefile
from tests.factories import World, territory, walk_to
from tests.web.conftest import csrf_token
from web.i18n import LOCALES

SVG = re.compile(r"<svg\b.*?</svg>", re.S)
PARK = [[-71.96, -13.54], [-71.90, -13.54], [-71.90, -13.50], [-71.96, -13.50], [-71.96, -13.54]]
HERITAGE = [
    [-71.94, -13.56],
    [-71.92, -13.56],
    [-71.92, -13.54],
    [-71.94, -13.54],
    [-71.94, -13.56],
]


def _datasets(world: World, folder: Path, park: bool = True) -> None:
    features = [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"WDPAID": ref, "NAME": name, "IUCN_CAT": cat, "DESIG_ENG": desig}}
        for ref, name, cat, desig, ring in [
            (1, "Parque Nacional Cerro Verde", "II", "National Park", PARK),
            (2, "Qhapaq landscape", "Not Applicable", "World Heritage Site (cultural)", HERITAGE),
        ]
        if park or ref != 1
    ]  # fmt: skip
    path = folder / "wdpa.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    import_areas(world.engine, world.admin, path, kind="protected_area", source="WDPA test",
                 version="2026-11")  # fmt: skip


@pytest.fixture
def mapped(world: World, community, tmp_path) -> int:
    """A case at the decision stage whose project reaches a category II park and a World
    Heritage property, and whose community's territory is confidential to it."""
    _datasets(world, tmp_path)
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    world.act(case_id, "complete_mapping", community.rep_actors[0],
              territory(files_confidential=True))  # fmt: skip
    return case_id


def _map(html: str) -> ET.Element:
    found = SVG.search(html)
    assert found, "the page has no map"
    return ET.fromstring(found.group(0))


def _titles(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]


def test_the_project_area_can_be_sent_as_a_zipped_shapefile(world, community, signed_in):
    case_id = world.open_case(community)
    liaison = signed_in("liaison")
    url = f"/cases/{case_id}/actions/record_project_area"
    form = liaison.get(url).text
    assert 'type="file"' in form
    assert 'name="map"' in form
    assert 'name="coordinates"' in form
    sent = liaison.submit(url, {"map": (io.BytesIO(zipped_shapefile()), "parcel.zip")})
    assert sent.status_code == 302, sent.text[:3000]
    case = world.case(case_id)
    assert case.screening is not None
    page = liaison.get(f"/cases/{case_id}").text
    assert "parcel.zip" in page  # the map as sent, beside the area kept
    assert _titles(_map(page))[0].startswith("Map of")


def test_a_bad_map_is_refused_on_the_form_with_its_reason(world, community, signed_in):
    case_id = world.open_case(community)
    liaison = signed_in("liaison")
    url = f"/cases/{case_id}/actions/record_project_area"
    refused = liaison.submit(url, {"coordinates": "0, 0\n1, 1\n1, 0\n0, 1"})
    assert refused.status_code == 400, refused.status_code
    assert "Self-intersection" in refused.text
    assert world.case(case_id).current_area_id is None


def test_the_case_page_draws_the_map_and_lists_what_it_calls_for(world, mapped, signed_in):
    liaison = signed_in("liaison")
    html = liaison.get(f"/cases/{mapped}").text
    svg = _map(html)
    assert svg.get("role") == "img"
    titles = _titles(svg)
    assert "Parque Nacional Cerro Verde" in titles
    assert "Qhapaq landscape" in titles
    # the territory is confidential to the community: its shape is not drawn for the liaison
    assert "Ayllu Qollana" not in titles
    assert "Ayllu-Qollana" not in titles
    assert "not allowed your role to see it" in html
    table = html[html.index('aria-labelledby="h-where"', html.index("</svg>")) :]
    assert "A compatibility assessment before disclosure completes" in table
    assert "No consent to an extractive project (ICMM, 2003)" in table
    assert "FPIC is required: it cannot be screened out" in table
    assert len(SVG.search(html).group(0)) < 30_000  # a slow link carries it
    assert "<script" not in html


def test_the_community_sees_its_own_confidential_territory(world, mapped, community, signed_in):
    rep = signed_in(community.rep_actors[0].username)
    titles = _titles(_map(rep.get(f"/cases/{mapped}").text))
    assert "Ayllu Qollana" in titles
    own_page = rep.get("/communities/ayllu-qollana").text
    assert "Ayllu Qollana" in _titles(_map(own_page))
    liaison_page = signed_in("liaison").get("/communities/ayllu-qollana").text
    assert "the community has not allowed your role to see its shape" in liaison_page


def test_the_representative_is_told_why_consent_is_refused(world, community, signed_in, tmp_path):
    _datasets(world, tmp_path, park=False)  # no assessment needed on the way
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    rep = signed_in(community.rep_actors[0].username)
    html = rep.get(f"/cases/{case_id}").text
    # the consent is the main step: the reason stands with it, before every other action
    next_step = html[html.index('id="h-next"') : html.index('id="h-actions"')]
    assert "World Heritage property Qhapaq landscape" in next_step


@pytest.mark.parametrize("locale", LOCALES)
def test_the_map_is_drawn_in_every_language(world, mapped, signed_in, locale):
    liaison = signed_in("liaison")
    page = liaison.get("/")
    chosen = liaison.client.post(
        "/language", data={"locale": locale, "next": "/", "csrf_token": csrf_token(page.text)}
    )
    assert chosen.status_code == 302
    html = liaison.get(f"/cases/{mapped}").text
    svg = _map(html)
    words = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    if locale == "en":
        assert "Project area" in words
    else:
        assert "Project area" not in words, locale
        assert "World Heritage property" not in words, locale


def test_the_landscape_shows_other_projects_reaching_the_same_territory(
    world, mapped, community, signed_in
):
    other_project = add_project(world.engine, world.liaison, {
        "name": "Qollana hydro dam", "proponent": "Andina Energía", "sector": "energy",
    })  # fmt: skip
    # a case with another community: the dam's area reaches Ayllu Qollana's territory too
    neighbour = world.add_community("uma-jaqi", ["ay"])
    other = world.engine.open_case(
        world.liaison, project_id=other_project, community_id=neighbour.id,
        template_id="fpic-general", reference="DAM-1",
    ).case_id  # fmt: skip
    dam = "-71.99, -13.58\n-71.96, -13.58\n-71.96, -13.55\n-71.99, -13.55"
    world.act(other, "record_project_area", world.liaison, {"coordinates": dam})
    liaison = signed_in("liaison")
    page = liaison.get(f"/projects/{world.project_id}").text
    assert _map(page) is not None
    cumulative = page[page.index('id="h-cumulative"') :]
    assert "Qollana hydro dam" in cumulative
    assert "DAM-1" in cumulative
    assert "Every case of this project" in liaison.get(f"/cases/{mapped}").text


def test_the_legacy_site_register(world, community, signed_in):
    add_legacy_site(world.engine, world.liaison, {
        "slug": "mina-vieja", "name": "Mina Vieja tailings", "country": "PE",
        "former_operator": "Compañía Minera del Sur (dissolved 1981)", "worked": "1950-1981",
        "hazards": ["acid drainage", "open shafts"], "current_state": "Tailings eroding.",
        "location": "-71.95, -13.53", "communities": [community.slug],
    })  # fmt: skip
    auditor = signed_in("auditor")
    listing = auditor.get("/legacy-sites/").text
    assert "Mina Vieja tailings" in listing
    page = auditor.get("/legacy-sites/mina-vieja").text
    assert "acid drainage" in page
    assert "Compañía Minera del Sur" in page
    assert "Mina Vieja tailings" in _titles(_map(page))
    assert auditor.get("/legacy-sites/no-such-site").status_code == 404
    assert "Mina Vieja tailings" in auditor.get(f"/communities/{community.slug}").text


def test_the_printable_record_carries_the_map(world, mapped, signed_in):
    html = signed_in("auditor").get(f"/cases/{mapped}/record").text
    assert "Parque Nacional Cerro Verde" in _titles(_map(html))


def test_a_legacy_site_is_refused_with_its_reason(world, community):
    from fpic.workflow.errors import InvalidData

    with pytest.raises(InvalidData) as caught:
        add_legacy_site(world.engine, world.liaison, {
            "slug": "nowhere", "name": "Nowhere", "country": "PE", "former_operator": "X",
            "current_state": "Y", "location": "-13.5, -191",
        })  # fmt: skip
    assert caught.value.field == "location"
    assert caught.value.reasons[0].code == "area_out_of_range"
