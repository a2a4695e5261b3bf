"""The token-classification compressor and CRAG over the real MiniLM encoder.

A head is fitted here on synthetic labels (keep content words, drop function words), which also tests
the training path; the packaged head is checked separately.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.compress.crag import CragCompressor, CragConfig, choose_clusters
from indexers.compress.distill import LabeledText, fit_head
from indexers.compress.lingua import DEFAULT_HEAD, KeepHead, LinguaCompressor, LinguaConfig, WordReader
from indexers.compress.words import normalise
from indexers.configs import EncoderConfig
from indexers.errors import CorruptIndex, InvalidConfig, InvalidInput
from tests.scripted_llm import ScriptedLLM

FUNCTION = set("the a an of in on to and was were is are with for by that this it at from as has had".split())
SUBJECTS = ["insulin", "the vaccine", "a new drug", "the mouse model", "aspirin", "the protein"]
VERBS = ["reduced", "increased", "blocked", "changed", "improved"]
OBJECTS = ["blood glucose", "the tumour growth", "an immune response", "the heart rate", "bone density"]
PLACES = ["in the trial", "at the clinic", "for the patients", "with the older mice", "in a cohort of 120"]


def sentence(i: int) -> str:
    return (
        f"{SUBJECTS[i % 6].capitalize()} {VERBS[i % 5]} {OBJECTS[(i * 7) % 5]} "
        f"{PLACES[(i * 3) % 5]} and that was seen in {i + 3} weeks."
    )


def labelled(i: int) -> LabeledText:
    words = sentence(i).split() + sentence(i + 11).split()
    return LabeledText(words, [normalise(w) not in FUNCTION for w in words])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reader() -> WordReader:
    return WordReader(EncoderConfig(batch_size=8))


@pytest.fixture(scope="module")
def trained(reader: WordReader) -> tuple[KeepHead, dict[str, float]]:
    return fit_head(reader, [labelled(i) for i in range(24)], epochs=150)


@pytest.fixture(scope="module")
def lingua(trained: tuple[KeepHead, dict[str, float]]) -> LinguaCompressor:
    return LinguaCompressor(LinguaConfig(), head=trained[0])


def test_training_learns_the_labels(trained: tuple[KeepHead, dict[str, float]]) -> None:
    head, report = trained
    assert head.weight.shape == (2, 384) and report["validation_texts"] >= 4
    assert report["validation_word_accuracy"] > 0.9 and report["validation_keep_auc"] > 0.95


def test_a_head_with_a_hidden_layer_learns_the_labels_and_round_trips(
    reader: WordReader, tmp_path: Path
) -> None:
    head, report = fit_head(reader, [labelled(i) for i in range(24)], epochs=100, hidden=16, lr=3e-3)
    assert [w.shape for w, _ in head.hidden] == [(16, 384)] and head.weight.shape == (2, 16)
    assert head.input_dim == 384 and report["hidden"] == 16
    assert report["validation_keep_auc"] > 0.95
    head.save(tmp_path / "mlp.npz")
    again = KeepHead.load(tmp_path / "mlp.npz")
    states = np.random.default_rng(0).normal(size=(5, 384)).astype(np.float32)
    assert np.allclose(again.keep_probability(states), head.keep_probability(states))
    broken = KeepHead(head.weight[:, :8], head.bias, "minilm", head.hidden)  # 16 units into 8 inputs
    broken.save(tmp_path / "broken.npz")
    with pytest.raises(CorruptIndex, match="chain"):
        KeepHead.load(tmp_path / "broken.npz")


def test_compress_reaches_the_rate_with_whole_words(lingua: LinguaCompressor) -> None:
    text = "\n".join(sentence(i) for i in range(40, 46))
    result = lingua.compress(text, rate=1 / 3)
    assert result.kept is not None and len(result.kept) == len(result.words) == len(text.split())
    assert 0.2 <= result.rate <= 1 / 3 + 0.01
    assert result.tokens_before == lingua.count_tokens(text)
    assert result.tokens_after == lingua.count_tokens(result.text)
    kept = [w for w, k in zip(result.words, result.kept, strict=True) if k]
    assert result.text.split() == kept  # every output word is a whole input word, in order
    dropped_function = np.mean(
        [not k for w, k in zip(result.words, result.kept, strict=True) if normalise(w) in FUNCTION]
    )
    assert dropped_function > 0.9


def test_target_tokens_and_forced_words(lingua: LinguaCompressor) -> None:
    text = " ".join(sentence(i) for i in range(3))
    result = lingua.compress(text, target_tokens=10, force_tokens=["that was", "weeks."])
    assert result.tokens_after <= 10 + 4  # forced words may exceed a tiny budget
    assert "that was" in result.text and result.text.count("weeks.") == 3
    with pytest.raises(InvalidInput, match="not found"):
        lingua.compress(text, rate=0.5, force_tokens=["glucagon"])
    assert lingua.compress(text, rate=1.0).text == text


def test_long_text_is_read_in_chunks(trained: tuple[KeepHead, dict[str, float]]) -> None:
    small = LinguaCompressor(LinguaConfig(chunk_tokens=16), head=trained[0])
    words = " ".join(sentence(i) for i in range(30)).split()
    read = small.reader.read(words)
    assert set(read.word_of.tolist()) == set(range(len(words)))  # every word was read
    assert len(read.states) == int(read.cost.sum())
    result = small.compress(" ".join(words), rate=0.5)
    assert result.kept is not None and 0.4 <= result.rate <= 0.5


def test_passages_stay_on_their_own_lines(lingua: LinguaCompressor) -> None:
    result = lingua.compress([sentence(1), sentence(2)], rate=0.6)
    assert len(result.text.split("\n")) == 2


def test_heads_are_saved_loaded_and_checked(
    trained: tuple[KeepHead, dict[str, float]], tmp_path: Path
) -> None:
    head = trained[0]
    head.save(tmp_path / "head.npz")
    again = KeepHead.load(tmp_path / "head.npz")
    assert np.array_equal(again.weight, head.weight) and again.encoder_model == "minilm"
    with pytest.raises(InvalidConfig, match="train"):
        KeepHead.load(DEFAULT_HEAD.with_name("absent.npz"))
    (tmp_path / "bad.npz").write_bytes(b"not a head")
    with pytest.raises(CorruptIndex):
        KeepHead.load(tmp_path / "bad.npz")
    other = KeepHead(head.weight, head.bias, "another-model")
    with pytest.raises(InvalidConfig, match="trained on encoder"):
        LinguaCompressor(LinguaConfig(), head=other)


def test_packaged_head_keeps_content_words() -> None:
    lingua = LinguaCompressor(LinguaConfig())
    text = " ".join(sentence(i) for i in range(50, 56))
    probability, _ = lingua.word_probabilities(text.split())
    function = [p for w, p in zip(text.split(), probability, strict=True) if normalise(w) in FUNCTION]
    content = [p for w, p in zip(text.split(), probability, strict=True) if normalise(w) not in FUNCTION]
    assert np.mean(content) > np.mean(function)


def test_clusters_are_chosen_from_the_data() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vectors = np.concatenate([c + 0.05 * rng.standard_normal((6, 8)) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = choose_clusters(vectors)
    assert len(set(labels.tolist())) == 3
    assert all(len(set(labels[i : i + 6].tolist())) == 1 for i in (0, 6, 12))
    assert choose_clusters(vectors[:2]).tolist() == [0, 0]


def test_crag_prompt_grows_sub_linearly(lingua: LinguaCompressor) -> None:
    crag = CragCompressor(lingua, CragConfig(cluster_tokens=24))
    passages = [sentence(i) for i in range(50)]
    small = crag.compress(passages[:5], rate=0.5)
    large = crag.compress(passages, rate=0.5)
    assert large.tokens_before > 9 * small.tokens_before
    assert large.tokens_after < 5 * small.tokens_after
    assert large.kept is not None and len(large.kept) == len(large.words)
    assert large.tokens_after == sum(
        lingua.count_tokens(w) for w, k in zip(large.words, large.kept, strict=True) if k
    )


def test_crag_can_condense_with_the_llm(lingua: LinguaCompressor) -> None:
    llm = ScriptedLLM(["insulin lowers glucose"])
    crag = CragCompressor(lingua, CragConfig(condense="llm"), llm=llm)
    result = crag.compress([sentence(i) for i in range(9)], rate=0.5)
    assert result.kept is None and "insulin lowers glucose" in result.text and llm.calls
    with pytest.raises(InvalidInput, match="LLM"):
        CragCompressor(lingua, CragConfig(condense="llm"))


ANSWER_LINE = "Ann: My sister Maria moved to Lisbon last spring."
DIALOGUE = [
    "[8 May 2023]",
    "Ann: I went hiking near the lake with my dog on Sunday morning.",
    "Bob: My new job at the bakery starts at five in the morning.",
    "Ann: The weather was cold and windy for most of the week.",
    "Bob: I have been painting the kitchen walls a pale shade of green.",
    "Ann: Our football team lost the final match by two goals.",
    ANSWER_LINE,
    "Bob: I read a long novel about pirates and a lost treasure.",
    "Ann: The new phone has a better camera and a bigger battery.",
    "Bob: We cooked a large pot of vegetable soup for the neighbours.",
    "Ann: The piano lessons are getting harder every single week.",
]
QUESTION = "Where did Maria move to?"


def test_question_aware_compression_keeps_the_answer_segment(lingua: LinguaCompressor) -> None:
    text = "\n".join(DIALOGUE)
    aware = lingua.compress(text, rate=1 / 3, question=QUESTION)
    blind = lingua.compress(text, rate=1 / 3)
    assert ANSWER_LINE in aware.text.split("\n")  # the answer's turn survives 3x whole
    assert ANSWER_LINE not in blind.text.split("\n")  # control: without the question it is cut
    assert aware.text.startswith("[8 May 2023]\n")  # the passage's first line comes with it
    assert aware.rate <= 1 / 3 + 0.01 and aware.tokens_after == lingua.count_tokens(aware.text)
    assert aware.kept is not None and blind.kept is not None
    # irrelevant turns are dropped whole: the question-aware output touches fewer turns
    assert len(aware.text.split("\n")) < len(blind.text.split("\n"))
    assert lingua.compress(text, rate=1.0, question=QUESTION).text == text


def test_without_a_question_titles_come_first_within_the_budget(
    lingua: LinguaCompressor, trained: tuple[KeepHead, dict[str, float]]
) -> None:
    text = "\n".join(DIALOGUE)
    titled = lingua.compress(text, rate=1 / 3)
    assert titled.text.startswith("[8 May 2023]\n")  # the session date is kept whole
    untitled = LinguaCompressor(LinguaConfig(title_tokens=0), head=trained[0]).compress(text, rate=1 / 3)
    assert not untitled.text.startswith("[8 May 2023]\n")  # control: its words rank like any other
    assert titled.rate <= 1 / 3 + 0.01 and titled.tokens_after <= untitled.tokens_after + 1
    tiny = lingua.compress(text, target_tokens=3)  # a title longer than the budget is cut, not forced
    assert tiny.tokens_after <= 3 and set(tiny.text.split()) < {"[8", "May", "2023]"}
    lead = lingua.compress("\n".join([sentence(1), sentence(2), sentence(3)]), rate=1 / 3)
    assert not lead.text.startswith(sentence(1))  # a long first line is no title


def test_crag_ranks_clusters_and_representatives_by_the_question(lingua: LinguaCompressor) -> None:
    crag = CragCompressor(lingua, CragConfig(cluster_tokens=24))
    aware = crag.compress(DIALOGUE[1:], rate=1 / 3, question=QUESTION)
    blind = crag.compress(DIALOGUE[1:], rate=1 / 3)
    assert ANSWER_LINE in aware.text.split("\n\n")[0].split("\n")  # its cluster first, its turn kept
    assert ANSWER_LINE not in blind.text
    assert aware.tokens_after <= blind.tokens_before // 3 + 1
