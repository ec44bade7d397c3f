from edge_reason.heuristics import load_builtin

from edge_reason.reasoning.answer import StepStatus
from edge_reason.reasoning.verifier import Chain, FactCitations, Finding, Verifier
from edge_reason.reasoning.voting import Ballot

STORY = (
    "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
    "4 Daniel went back to the hallway.\n5 Sandra moved to the garden.\n"
    "7 John moved to the office.\n8 Daniel travelled to the office."
)


def test_ballot_counts_normalized_answers_and_decides() -> None:
    ballot = Ballot()
    for answer in ["Office", "office.", "garden"]:
        ballot.add(answer)
    ballot.abstain()
    assert ballot.leader == "Office"
    assert ballot.as_votes() == {"Office": 2, "garden": 1}
    assert ballot.share == 2 / 4  # the abstention counts against the leader


def test_a_tie_keeps_the_answer_seen_first() -> None:
    ballot = Ballot()
    for answer in ["garden", "office", "office", "garden"]:
        ballot.add(answer)
    assert ballot.leader == "garden"
    assert Ballot().leader is None


def verify(text: str, question: str = "Where is Daniel?", answer: str | None = "office"):
    checker = FactCitations(load_builtin("babi"))
    return checker(Chain(text, question, STORY, answer))


def test_cited_facts_that_support_the_answer_verify() -> None:
    about, support, answer = verify("Facts: 8.\nAnswer: office")
    assert about.ok and about.detail == "line 8 about daniel"
    assert support.ok and support.detail == "line 8 supports 'office'"
    assert answer.ok and answer.checked and answer.span[0] == len("Facts: 8.\nAnswer: ")


def test_fact_citation_failures_say_what_is_wrong() -> None:
    assert verify("Facts: 3.\nAnswer: office")[0].detail == "fact 3 is not a line of the story"
    assert verify("Facts: 4.\nAnswer: office")[1].detail == "'office' rests on line 8, not 4"
    wrong = verify("Facts: 4.\nAnswer: hallway", answer="hallway")[1]
    assert not wrong.ok and wrong.detail == "line 8 says 'office', not 'hallway'"
    # a cited line about someone else, and a question about someone the story never names
    about = verify("Facts: 7.\nAnswer: office")[0]
    assert not about.ok and about.detail == "line 7 is not about daniel"
    absent = verify("Facts: 8.\nAnswer: office", question="Where is Bill?")
    assert [f.ok for f in absent] == [False, False]
    assert absent[1].detail == "the story never mentions 'bill': the answer is unknown"
    assert verify("Facts: 8.", answer=None)[0].detail == "facts are cited but no answer follows"
    assert verify("Answer: office")[0].detail == "the chain cites no story facts"


def test_an_answer_the_story_contradicts_fails_even_when_no_line_states_the_truth() -> None:
    # "no" rests on no line (nothing says Daniel is in the garden): the pack read every sentence
    question = "Is Daniel in the garden?"
    about, wrong = verify("Facts: 8.\nAnswer: yes", question=question, answer="yes")
    assert about.ok and not wrong.ok and wrong.detail == "the story says 'no', not 'yes'"
    right = verify("Facts: 8.\nAnswer: no", question=question, answer="no")
    assert all(f.ok and f.checked for f in right)


DROP_STORY = (
    "1 Mary moved to the bathroom.\n3 Sandra got the football there.\n"
    "6 Sandra journeyed to the bathroom.\n7 Mary went to the kitchen.\n"
    "8 Sandra left the football.\n9 Sandra went back to the garden.\n"
    "10 Mary went to the garden.\n11 Mary went back to the kitchen."
)


def test_another_set_of_lines_that_gives_the_answer_on_its_own_verifies() -> None:
    # The pack's own evidence is the take and the journey (3, 6); bAbI's gold cites the
    # journey and the drop (6, 8): both place the football.
    checker = FactCitations(load_builtin("babi"))

    def finding(cited: str, question: str, answer: str) -> Finding:
        chain = Chain(f"Facts: {cited}.\nAnswer: {answer}", question, DROP_STORY, answer)
        about, found, _ = checker(chain)
        assert about.ok  # every line cited here is about the thing asked, or its holder
        return found

    assert finding("3 6", "Where is the football?", "bathroom").detail == (
        "line 3, 6 supports 'bathroom'"
    )
    assert finding("8 6", "Where is the football?", "bathroom").detail == (
        "line 8, 6 alone give 'bathroom'"
    )
    # lines that do not give the answer on their own, and a line older than the evidence
    # (Mary left the kitchen at 10 and came back at 11), do not verify
    assert not finding("8", "Where is the football?", "bathroom").ok
    assert not finding("7", "Where is Mary?", "kitchen").ok
    assert finding("11", "Where is Mary?", "kitchen").ok


def test_older_lines_verify_when_no_later_line_overturns_them() -> None:
    # sizes do not change: the chest holds the chocolate by lines 1 and 2 as by line 3
    story = (
        "1 The box is bigger than the chocolate.\n2 The chest is bigger than the box.\n"
        "3 The chocolate fits inside the chest.\n4 The suitcase is bigger than the chest."
    )
    checker = FactCitations(load_builtin("babi"))
    question = "Does the chocolate fit in the chest?"
    _, found, _ = checker(Chain("Facts: 1 2.\nAnswer: yes", question, story, "yes"))
    assert found.ok and found.detail == "line 1, 2 alone give 'yes'"


def test_cited_lines_that_contradict_each_other_do_not_verify() -> None:
    # without lines 2-4, John carries the apple to the hallway (1, 7) while Mary leaves it in
    # the garden (6, 8): rules that move carried things and keep dropped ones keep
    # overturning each other, which gives nothing
    story = (
        "1 John took the apple there.\n2 John went to the office.\n3 John left the apple.\n"
        "4 Mary got the apple there.\n5 Mary went to the bathroom.\n6 Mary went to the garden.\n"
        "7 John went to the hallway.\n8 Mary left the apple."
    )
    checker = FactCitations(load_builtin("babi"))
    question = "Where was the apple before the garden?"
    _, found, _ = checker(Chain("Facts: 1 5 6 7 8.\nAnswer: bathroom", question, story, "bathroom"))
    assert not found.ok and found.detail.startswith("'bathroom' rests on line")


def test_without_a_tracking_pack_a_cited_line_must_mention_the_answer() -> None:
    checker = FactCitations(None)
    good = checker(Chain("Facts: 7.\nAnswer: office", "Where is John?", STORY, "office"))
    bad = checker(Chain("Facts: 2.\nAnswer: office", "Where is John?", STORY, "office"))
    assert good[1].ok and not bad[1].ok
    # a mention is no proof that the answer still holds: passed, but not checked
    assert all(f.ok for f in good) and not any(f.checked for f in good[1:])
    # no line of the story says "yes" or "two": cited lines that exist are not judged by it
    for answer in ("yes", "two"):
        judged = checker(
            Chain(f"Facts: 7.\nAnswer: {answer}", "Is John in the office?", STORY, answer)
        )
        assert all(f.ok for f in judged) and not judged[-1].checked
    assert checker(Chain("Facts: 99.\nAnswer: yes", "Is John here?", STORY, "yes"))[0].ok is False


def test_domain_checkers_plug_into_the_verifier() -> None:
    def no_negative_minutes(chain: Chain) -> list[Finding]:
        at = chain.text.find("-")
        return [Finding((at, at + 1), False, "negative duration")] if at >= 0 else []

    verifier = Verifier()
    verifier.add(no_negative_minutes)
    result = verifier.verify("Run the pump 10 - 15 = -5 minutes.")
    assert [s.status for s in result.steps] == [StepStatus.FAILED]
    assert result.steps[0].detail == "10 - 15 = -5; negative duration"
