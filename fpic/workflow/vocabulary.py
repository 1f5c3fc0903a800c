"""What a project's phase and activity codes are called (``exploration``, ``open_pit``).

A project lists its phases and activities as short codes (fpic.storage.models.Project); a
consent names the ones it covers and an activity started names one, so the codes stay what the
trail records. People read them by these titles (English message ids, translated by the
interface). A code not listed here is shown as written, its underscores as spaces
(web/labels.py): a register may use codes of its own, and a title guessed for them could say
something the project did not.
"""

from __future__ import annotations

from fpic.i18n import N_

# i18n: a phase of a project (a mine, a road, a dam), as a consent names the phases it covers
PHASE_TITLES = {
    "prospecting": N_("Prospecting"),
    "survey": N_("Survey"),
    "exploration": N_("Exploration"),
    "feasibility": N_("Feasibility study"),
    "pilot": N_("Pilot"),
    "design": N_("Design"),
    "construction": N_("Construction"),
    "works": N_("Works"),
    "operation": N_("Operation"),
    "mining": N_("Mining"),
    "production": N_("Production"),
    "expansion": N_("Expansion"),
    "closure": N_("Closure"),
    "decommissioning": N_("Decommissioning"),
    "rehabilitation": N_("Rehabilitation"),
    "post_closure": N_("After closure"),
}

# i18n: an activity of a project, as a consent names the activities it covers
ACTIVITY_TITLES = {
    "access_road": N_("Access road"),
    "airborne_survey": N_("Airborne survey"),
    "brine_wells": N_("Brine wells"),
    "camp": N_("Camp"),
    "clearing": N_("Land clearing"),
    "dam": N_("Dam"),
    "drilling": N_("Drilling"),
    "dredging": N_("Dredging"),
    "earthworks": N_("Earthworks"),
    "evaporation_ponds": N_("Evaporation ponds"),
    "exploration_camp": N_("Exploration camp"),
    "geotechnical_survey": N_("Geotechnical survey"),
    "haul_road": N_("Haul road"),
    "open_pit": N_("Open pit"),
    "penstock": N_("Penstock"),
    "pipeline": N_("Pipeline"),
    "powerhouse": N_("Powerhouse"),
    "processing_plant": N_("Processing plant"),
    "quarrying": N_("Quarrying"),
    "revegetation": N_("Revegetation"),
    "road_construction": N_("Road construction"),
    "sampling": N_("Sampling"),
    "seismic_lines": N_("Seismic lines"),
    "tailings_facility": N_("Tailings facility"),
    "transmission_line": N_("Transmission line"),
    "trenching": N_("Trenching"),
    "underground_mine": N_("Underground mine"),
    "waste_rock_dump": N_("Waste rock dump"),
    "water_abstraction": N_("Water abstraction"),
    "water_treatment": N_("Water treatment"),
    "weir_construction": N_("Weir construction"),
}
