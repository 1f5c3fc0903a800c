from tests.web.conftest import Browser, decision_form


def test_liaison_signs_in_and_sees_the_case(signed_in, case_at_decision):
    liaison: Browser = signed_in("liaison")
    page = liaison.get(f"/cases/{case_at_decision}")
    assert page.status_code == 200
    assert "T-0001" in page.text


def test_representative_records_consent_through_the_form(
    world, signed_in, community, case_at_decision
):
    rep = signed_in("rep-ayllu-qollana-1")
    url = f"/cases/{case_at_decision}/actions/give_consent"
    response = rep.submit(url, decision_form(world, community))
    assert response.status_code == 302, response.text[:3000]
    assert world.case(case_at_decision).stage == "agreement"
