"""Training artifacts and input validation (fast: the tiny hand-written data set)."""

import numpy as np
import pytest

from triage import CATEGORIES
from triage.data import Example, data_ref
from triage.evaluate import is_not_worse
from triage.predict import evaluate_on, predict
from triage.train import MIN_PER_CATEGORY, TrainedModel, cross_validate, train


def test_artifact_describes_training(tiny_model: TrainedModel, tiny_examples: list) -> None:
    assert tiny_model.classes == CATEGORIES
    assert tiny_model.n_train == 20
    assert tiny_model.n_validation == 4
    assert tiny_model.metrics["n"] == 4
    assert tiny_model.data_ref == data_ref(tiny_examples)
    assert tiny_model.versions["scikit-learn"] and tiny_model.versions["numpy"]
    assert tiny_model.created_at.tzinfo is not None


def test_without_refit_ships_the_validated_model(tiny_examples: list[Example]) -> None:
    model = train(tiny_examples, seed=0, refit_on_all=False)
    assert model.n_train == 16


def test_same_seed_same_model(tiny_examples: list[Example], tiny_model: TrainedModel) -> None:
    again = train(tiny_examples, seed=0)
    texts = ["想退货", "the app crashed"]
    assert predict(again, texts) == predict(tiny_model, texts)


def test_every_category_needs_examples(tiny_examples: list[Example]) -> None:
    no_complaints = [e for e in tiny_examples if e.category != "complaint"]
    with pytest.raises(ValueError, match=rf"at least {MIN_PER_CATEGORY}.*complaint \(0\)"):
        train(no_complaints)


def test_embeddings_need_a_name_and_matching_rows(tiny_examples: list[Example]) -> None:
    with pytest.raises(ValueError, match="embedder_name"):
        train(tiny_examples, np.zeros((20, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        train(tiny_examples, np.zeros((3, 8), dtype=np.float32), embedder_name="x")


def test_cross_validate_returns_out_of_fold_probabilities(tiny_examples: list[Example]) -> None:
    result, proba = cross_validate(tiny_examples, folds=2, seed=0)
    assert result["n"] == 20
    assert proba.shape == (20, 4)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_evaluate_on_feeds_the_promotion_rule(tiny_model: TrainedModel) -> None:
    holdout = [Example("请问怎么收费", "consultation"), Example("App keeps crashing", "problem")]
    result = evaluate_on(tiny_model, holdout)
    assert result["n"] == 2
    assert is_not_worse(result, result)


ONE_LANGUAGE = {
    "en": [
        ("How much does the premium plan cost?", "consultation"),
        ("Do you deliver on Sundays?", "consultation"),
        ("What payment methods do you accept?", "consultation"),
        ("The app crashes when I open it", "problem"),
        ("I cannot log in, error 403", "problem"),
        ("Sync keeps failing since yesterday", "problem"),
        ("Your agent was rude, I demand compensation", "complaint"),
        ("Unacceptable service, I want to speak to a manager", "complaint"),
        ("I am filing a formal complaint about your staff", "complaint"),
        ("I want to return these shoes for a refund", "after_sales"),
        ("My order has not arrived, where is it", "after_sales"),
        ("My TV is under warranty and needs a repair", "after_sales"),
    ],
    "zh": [
        ("请问会员怎么收费", "consultation"),
        ("请问周末营业吗", "consultation"),
        ("你们支持哪些付款方式", "consultation"),
        ("登录一直失败", "problem"),
        ("页面打不开，一直报错", "problem"),
        ("同步从昨天开始一直失败", "problem"),
        ("我要投诉你们客服态度太差", "complaint"),
        ("再不处理我就打12315投诉", "complaint"),
        ("服务太差了，要求赔偿", "complaint"),
        ("衣服不合适，我要退货", "after_sales"),
        ("我的订单还没到，帮我查一下物流", "after_sales"),
        ("耳机坏了，申请保修维修", "after_sales"),
    ],
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_team_writing_one_language_trains(lang: str) -> None:
    """The features of the other script have nothing to learn from; they are left out, not
    an error (a Chinese-only set used to fail on its empty English word block)."""
    rows = [Example(text, category) for text, category in ONE_LANGUAGE[lang] * 2]  # type: ignore[arg-type]
    model = train(rows, seed=0, validation_size=0.25)
    text = "订单还没到，帮我查一下物流" if lang == "zh" else "my order has not arrived, where is it"
    assert predict(model, [text])[0].category == "after_sales"
