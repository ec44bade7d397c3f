"""Calibrated confidence: the features, the calibrator a bundle declares, the ECE and its fit."""

from __future__ import annotations

import numpy as np
import pytest

from edge_reason import Reasoner
from edge_reason.errors import ModelFormatError
from edge_reason.reasoning.answer import Answer, Signals, Step, StepStatus
from edge_reason.reasoning.calibration import FEATURES, MANIFEST_KEY, Calibrator, features, sigmoid
from edge_reason.reasoning.evaluation import (
    EvalReport,
    calibrated_ece,
    expected_calibration_error,
    fit_calibrator,
    fit_logistic,
    pooled_answers,
    reliability_bins,
)


def test_ece_of_a_hand_computed_example() -> None:
    confidences = [0.05, 0.05, 0.35, 0.85, 0.85, 0.85, 0.85]
    outcomes = [False, False, True, True, True, True, False]
    # bins (0, 0.1]: 2 answers, gap 0.05; (0.3, 0.4]: 1, gap 0.65; (0.8, 0.9]: 4, gap 0.10
    expected = (2 * 0.05 + 1 * 0.65 + 4 * 0.10) / 7
    assert expected_calibration_error(confidences, outcomes) == pytest.approx(expected)
    assert expected_calibration_error([], []) == 0.0


def test_bins_are_closed_on_the_right_and_hold_zero_in_the_first() -> None:
    bins = reliability_bins([0.0, 0.2, 1.0], [False, True, True])
    assert [(b.low, b.count) for b in bins] == [(0.0, 1), (0.1, 1), (0.9, 1)]


def test_the_fit_recovers_a_known_logistic_mapping() -> None:
    rng = np.random.default_rng(0)
    truth_intercept, truth = 0.5, np.array([-2.0, -1.0, 0.8, 0.4, 1.5, -0.7, 1.0, 0.0])
    x = rng.normal(size=(20_000, len(FEATURES)))
    y = rng.random(len(x)) < 1 / (1 + np.exp(-(truth_intercept + x @ truth)))
    intercept, weights = fit_logistic(x, y.astype(float))
    assert intercept == pytest.approx(truth_intercept, abs=0.1)
    assert weights == pytest.approx(truth, abs=0.1)


def test_a_fitted_calibrator_makes_overconfident_answers_calibrated() -> None:
    # a model that says 0.9 (first-token probability) for answers right 60% of the time
    rng = np.random.default_rng(1)
    report = EvalReport("cot")
    for _ in range(2000):
        answer = _answer(logprobs=(np.log(0.9),), steps=())
        report.features.append(features(answer))
        report.outcomes.append(bool(rng.random() < 0.6))
        report.confidences.append(0.9)
        report.n += 1
    calibrator = fit_calibrator({"cot": report, "auto": report})
    assert set(calibrator.strategies) == {"cot"}  # auto ran some other strategy each time
    assert calibrator.confidence(_answer(logprobs=(np.log(0.9),), steps=())) == pytest.approx(
        np.mean(report.outcomes), abs=0.01
    )
    assert expected_calibration_error(report.confidences, report.outcomes) > 0.25


def test_features_read_status_probabilities_votes_revisions_and_source() -> None:
    wrong = Step("3 + 4 = 8", StepStatus.FAILED)
    signals = Signals(logprobs=(-0.5, -30.0), vote_share=0.6, revisions=3)
    row = dict(zip(FEATURES, features(_answer(steps=(wrong,), signals=signals)), strict=True))
    assert row == {
        "failed": 1.0,
        "unchecked": 0.0,
        "logprob_mean": pytest.approx(-5.25),  # -30 is clipped to the floor, -10
        "logprob_min": -10.0,
        "vote_share": 0.6,
        "revisions": pytest.approx(np.log(4)),
        "rules": 0.0,
        "tool": 0.0,
    }
    rules = dict(zip(FEATURES, features(_answer(source="rules")), strict=True))
    assert rules["unchecked"] == 0.0 and rules["rules"] == 1.0 and rules["logprob_min"] == 0.0


def test_a_bundle_calibration_replaces_the_uncalibrated_confidence(fake_engine) -> None:
    engine = fake_engine(lambda *_: "Answer: blue")  # flat logits: unverified, probability 1/256
    uncalibrated = Reasoner(engine).ask("What colour is the sky?", strategy="cot")
    assert not uncalibrated.confidence_calibrated and not uncalibrated.verified
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("unchecked")] = 1.0
    engine.manifest = {MANIFEST_KEY: _table({"cot": {"intercept": 0.5, "weights": weights}})}
    answer = Reasoner(engine).ask("What colour is the sky?", strategy="cot")
    # measured, an unverified answer may be more likely right than the uncalibrated cap says
    assert answer.confidence_calibrated and answer.confidence == pytest.approx(sigmoid(1.5))
    assert answer.to_dict()["confidence_calibrated"] is True
    direct = Reasoner(engine).ask("What colour is the sky?", strategy="direct")
    assert not direct.confidence_calibrated  # no calibration for that strategy


def test_a_malformed_calibration_names_the_manifest(fake_engine) -> None:
    engine = fake_engine(lambda *_: "")
    engine.path = "models/m"
    engine.manifest = {MANIFEST_KEY: {**_table({}), "features": ["failed"]}}
    with pytest.raises(ModelFormatError, match=r"models/m/bundle.json: confidence_calibration: "):
        Reasoner(engine)
    engine.manifest = {MANIFEST_KEY: _table({"cot": {"intercept": 1.0, "weights": [1.0]}})}
    with pytest.raises(ModelFormatError, match=r"strategies.cot must hold a number intercept"):
        Reasoner(engine)


def test_the_manifest_table_round_trips() -> None:
    calibrator = Calibrator({"direct": (0.25, tuple(float(i) for i in range(len(FEATURES))))})
    assert Calibrator.from_manifest({MANIFEST_KEY: calibrator.to_manifest()}, "x") == calibrator
    assert Calibrator.from_manifest({}, "x") is None


def _table(strategies: dict) -> dict:
    return {"method": "logistic", "features": list(FEATURES), "strategies": strategies}


def _answer(
    *,
    steps: tuple[Step, ...] = (Step("Facts: 1.", StepStatus.VERIFIED),),
    source: str = "model",
    logprobs: tuple[float, ...] = (),
    signals: Signals | None = None,
) -> Answer:
    return Answer(
        "kitchen",
        source,
        "test",
        steps=steps,
        strategy="cot",
        signals=signals if signals is not None else Signals(logprobs),
    )


def test_a_calibration_fitted_on_one_part_of_a_run_is_checked_on_the_other() -> None:
    # one run scored 40 answers: the first 20 fit the calibration, the last 20 check it
    rng = np.random.default_rng(2)
    report = EvalReport("cot")
    for i in range(40):
        right = bool(rng.random() < 0.5)
        answer = _answer(logprobs=(np.log(0.95 if right else 0.3),), steps=())
        report.features.append(features(answer))
        report.outcomes.append(right)
        report.confidences.append(0.9)
        report.answered.append(i != 39)  # the last one: "no answer", which keeps its own
    fit = pooled_answers("cot", [(report, slice(20))])
    held = pooled_answers("cot", [(report, slice(20, None))])
    assert (fit.n, held.n) == (20, 20)
    assert fit.outcomes == report.outcomes[:20] and held.features == report.features[20:]
    calibrator = fit_calibrator({"cot": fit})
    expected = [
        calibrator.probability("cot", row) if answered else 0.9
        for row, answered in zip(held.features, held.answered, strict=True)
    ]
    assert calibrated_ece(held, calibrator) == pytest.approx(
        expected_calibration_error(expected, held.outcomes)
    )
    assert calibrated_ece(held, calibrator) < held.ece  # the log-probability separates them
    # a strategy the calibrator does not cover keeps its confidences
    other = pooled_answers("direct", [(report, slice(20, None))])
    assert calibrated_ece(other, calibrator) == pytest.approx(other.ece)
