from fpic.trail import audit
from tests.factories import walk_to


def test_walk_general_case_to_monitoring_and_verify(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    with world.db.read_session() as session:
        result = audit.verify_database(session)
    assert result.intact, result.breaks
    assert result.events > 50
