"""Training-time variants of a phrase (``ivr.voice.classifier``, ``Variants``): fillers around it, a menu word as
the recogniser may write it, English wallet words in a Mandarin sentence; and how the trained
matcher learns from them (never from a held-out phrase: only from the flow's own texts)."""

from __future__ import annotations

import pytest

from ivr.voice import classifier


def test_a_mandarin_phrase_varies_by_fillers_homophones_and_english_words() -> None:
    assert classifier.shipped_variants("zh-CN").of("我的充值，没到账。", whole=True) == [
        "我打这个电话是因为我的充值没到账",
        "那个我想说一下我的充值没到账",
        "我的充值没到账能帮我看一下吗",
        "我的充值没道账",
        "我的top up没到账",
        "我的topup没到账",
        "我的充值top up没到账",
    ]


def test_an_english_word_is_swapped_whole_and_a_word_only_is_not_given_fillers() -> None:
    made = classifier.shipped_variants("en-US").of("Forgot my password", whole=False)
    assert "forgot my pass word" in made
    assert all(v.startswith("forgot my ") for v in made)
    assert classifier.shipped_variants("en-US").of("password", whole=False)
    assert classifier.shipped_variants("en-US").of("   ", whole=True) == []
    assert classifier.shipped_variants("en-US").of("hello there", whole=False) == []


def test_variants_are_the_same_every_time() -> None:
    first = classifier.shipped_variants("en-US").of("my top up has not arrived", whole=True)
    assert first == classifier.shipped_variants("en-US").of("my top up has not arrived", whole=True)
    assert "my top up has not arrived" not in first


def test_a_malformed_variants_file_is_named() -> None:
    with pytest.raises(ValueError, match="x.yaml: sounds_like"):
        classifier.read_variants(
            "x.yaml", "before: [a]\nafter: [b]\nsounds_like: [a, b]\n", "en-US"
        )
    with pytest.raises(ValueError, match="x.yaml: before"):
        classifier.read_variants("x.yaml", "after: [b]\nsounds_like: {}\n", "en-US")
    found = classifier.read_variants(
        "x.yaml", "before: [Um]\nafter: []\nsounds_like: {fee: [Fi]}\n", "en-US"
    )
    assert found.before == ("um",)
    assert found.swaps == (("fee", ("fi",)),)
    assert found.of("the fee", whole=True) == ["um the fee", "the fi"]


def test_training_data_learns_each_text_with_its_variants_unless_told_not_to() -> None:
    texts = (("1", "my top up is missing", True), ("none", "hello", True))
    data = classifier.TrainingData("en-US", texts)
    xs, ys = data.pairs()
    assert xs[0] == "my top up is missing"
    assert len(xs) > len(texts)
    assert ys.count("none") >= 2  # fillers go to every class alike
    plain = classifier.TrainingData("en-US", texts, vary=False)
    assert plain.pairs() == (["my top up is missing", "hello"], ["1", "none"])
    assert plain.pairs([1]) == (["hello"], ["none"])
    assert plain.digest() != data.digest()


@pytest.mark.skipif(not classifier.available(), reason="needs the extra ivr[nlu]")
def test_a_small_menu_is_trained_with_its_variants_kept_in_their_folds() -> None:
    texts = tuple(
        (key, text, True)
        for key, phrases in {
            "1": ["my account is frozen", "my wallet is locked", "unfreeze my account"],
            "4": ["where is my refund", "refund not received", "I want my money back"],
            "none": ["what is the weather", "tell me a joke", "where is the office"],
        }.items()
        for text in phrases
    )
    data = classifier.TrainingData("en-US", texts)
    classes, probabilities = classifier.out_of_fold(data, lambda ch: None)
    assert classes == ["1", "4", "none"]
    assert probabilities.shape == (9, 3)
    assert all(abs(sum(row) - 1) < 1e-9 for row in probabilities)
    model = classifier.train(data)
    assert model.classes == ("1", "4", "none")
    assert model.match("where is my re fund").key == "4"  # split, as in a variant
    assert model.match("my wallet is lock").key == "1"
