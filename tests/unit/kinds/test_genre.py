"""The genre kind on a tiny random causal LM: exact constrained beam search, names, aliases, duplicates,
bad input, long queries and fine-tuning (the relevance of real models is checked in slow tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.base import Doc, SharedName
from indexers.configs import GENRE_ENTITY_PROMPT, GenreConfig
from indexers.errors import DocumentNotFound, InvalidConfig, InvalidInput
from indexers.generation.trie_decoding import constrained_beam_search
from indexers.kinds.genre import GenreIndex
from indexers.train.genre import finetune, pseudo_queries, sentences

DOCS = [
    Doc(id="a", text="Insulin lowers glucose.", title="Insulin and diabetes"),
    Doc(id="b", text="Smoking causes cancer.", title="Smoking and lung cancer"),
    Doc(
        id="c", text="Bees dance.", title="Honey bees", metadata={"aliases": ["Apis mellifera", "Honey bees"]}
    ),
    Doc(id="d", text="Another text, same title.", title="Insulin and diabetes", metadata={"year": 2}),
]


def index_for(model: str, **settings: object) -> GenreIndex:
    return GenreIndex(GenreConfig(model=model, **settings))  # type: ignore[arg-type]


def brute_force_logprob(index: GenreIndex, query: str, name_ids: list[int]) -> float:
    """Log-probability of `name_ids + [end]` after the prompt, from one full forward pass."""
    import torch

    prompt = index.prompt.ids(index.lm.tokenizer, query)
    target = [*name_ids, index.lm.tokenizer.eos_token_id]
    with torch.inference_mode():
        logits = index.lm.model(input_ids=torch.tensor([prompt + target])).logits[0].float()
    logprobs = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
    return float(logprobs[torch.arange(len(target)), torch.tensor(target)].sum())


def test_beam_search_is_exact_when_the_beam_holds_every_name(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=8)
    index.build(DOCS)
    assert index.trie is not None and index.trie.num_live == 4  # 3 titles + 1 alias; the duplicate shares
    query = "does insulin lower blood glucose"
    prompt = index.prompt.ids(index.lm.tokenizer, query)
    [generated] = constrained_beam_search(
        index.lm.model, [prompt], index.trie, num_beams=8, length_penalty=1.0
    )
    assert len(generated) == 4
    assert [g.score for g in generated] == sorted((g.score for g in generated), reverse=True)
    for gen in generated:
        name = list(index.trie.sequence(gen.name_id)[:-1])
        assert gen.logprob == pytest.approx(brute_force_logprob(index, query, name), abs=1e-4)
        assert gen.score == pytest.approx(gen.logprob / gen.length)


def test_narrow_beam_returns_at_most_num_beams_names(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=2)
    index.build(DOCS)
    prompt = index.prompt.ids(index.lm.tokenizer, "bees")
    assert index.trie is not None
    assert len(constrained_beam_search(index.lm.model, [prompt], index.trie, num_beams=2)[0]) <= 2


@pytest.mark.parametrize("prefix", [True, False])
def test_queries_decoded_together_match_queries_decoded_alone(tiny_causal_lm: str, prefix: bool) -> None:
    index = index_for(tiny_causal_lm, num_beams=3)
    index.build(DOCS)
    assert index.trie is not None
    queries = ["insulin", "does smoking cause lung cancer in older adults", "bees", "x y z"]
    prompts = [index.prompt.ids(index.lm.tokenizer, q) for q in queries]
    shared = index._prompt_prefix if prefix else None
    together = constrained_beam_search(index.lm.model, prompts, index.trie, num_beams=3, prefix=shared)
    for prompt, names in zip(prompts, together, strict=True):
        [alone] = constrained_beam_search(index.lm.model, [prompt], index.trie, num_beams=3, prefix=shared)
        assert [g.name_id for g in names] == [g.name_id for g in alone]
        assert [g.logprob for g in names] == pytest.approx([g.logprob for g in alone], abs=1e-4)
    batched = index_for(tiny_causal_lm, num_beams=3, query_batch=3)
    batched.build(DOCS)
    assert [[h.doc_id for h in hits] for hits in batched.search(queries, k=3)] == [
        [h.doc_id for h in index.search([q], k=3)[0]] for q in queries
    ]


def test_duplicate_names_return_both_documents_with_the_ambiguity(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=8)
    index.build(DOCS)
    hits = {h.doc_id: h for h in index.search(["insulin"], k=10)[0]}
    assert set(hits) == {"a", "b", "c", "d"}  # each document once, though c has two names
    assert hits["a"].score == hits["d"].score
    assert hits["a"].metadata == {"_genre": {"name": "Insulin and diabetes", "shared_with": ["d"]}}
    assert hits["d"].metadata == {"year": 2, "_genre": {"name": "Insulin and diabetes", "shared_with": ["a"]}}
    assert "_genre" not in hits["b"].metadata
    assert index.shared_names("a") == [SharedName("Insulin and diabetes", ["d"])]
    assert index.shared_names("c") == []  # its alias repeats its own title: not ambiguous
    index.delete(["d"])
    hits = {h.doc_id: h for h in index.search(["insulin"], k=10)[0]}
    assert set(hits) == {"a", "b", "c"} and hits["a"].metadata == {}
    assert index.shared_names("a") == []
    with pytest.raises(DocumentNotFound):
        index.shared_names("d")


def test_delete_and_replace_release_names_from_the_trie(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=8)
    index.build(DOCS)
    assert index.trie is not None
    index.delete(["c"])
    assert index.trie.num_live == 2  # both of c's names gone; the shared title stays for d
    index.add([Doc(id="b", text="x", title="Volcanoes")])
    assert index.trie.num_live == 2
    names = {index.lm.tokenizer.decode(list(index.trie.sequence(g.name_id)[:-1])) for g in _all(index)}
    assert names == {"Insulin and diabetes", "Volcanoes"}


def _all(index: GenreIndex) -> list:
    assert index.trie is not None
    prompt = index.prompt.ids(index.lm.tokenizer, "q")
    return constrained_beam_search(index.lm.model, [prompt], index.trie, num_beams=32)[0]


@pytest.mark.parametrize(
    "bad",
    [
        Doc(id="x", text="t", title="<|im_end|>"),  # only the end token: tokenises to nothing
        Doc(id="x", text="t", title="ok", metadata={"aliases": ["   "]}),
        Doc(id="x", text="t", title="ok", metadata={"aliases": "not a list"}),
        Doc(id="x", text="t", title="ok", metadata={"name": 5}),
    ],
)
def test_bad_names_raise_and_change_nothing(tiny_causal_lm: str, bad: Doc) -> None:
    index = index_for(tiny_causal_lm)
    index.build(DOCS)
    with pytest.raises(InvalidInput, match="document 'x'"):
        index.add([Doc(id="fine", text="t", title="Fine"), bad])
    with pytest.raises(InvalidInput, match="document 'x'"):
        index.build([bad])
    assert index.num_docs == 4 and "fine" not in index.docs.by_ext


def test_entity_names_from_metadata_and_text_fallback(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=8, max_name_tokens=6, prompt=GENRE_ENTITY_PROMPT)
    text = "Penguins huddle together to survive the antarctic winter"
    index.build([Doc(id="e1", text="the capital", metadata={"name": "Paris"}), Doc(id="e2", text=text)])
    tokenizer, trie = index.lm.tokenizer, index.trie
    assert trie is not None
    cut = tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:6])
    assert {tokenizer.decode(list(trie.sequence(g.name_id)[:-1])) for g in _all(index)} == {"Paris", cut}
    hits = index.search(["We flew to [START_ENT] Paris [END_ENT] in May."], k=2)[0]
    assert {h.doc_id for h in hits} == {"e1", "e2"}


def test_query_longer_than_the_context_is_cut_not_an_error(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, num_beams=3)
    index.build(DOCS)
    long_query = "insulin " * 5000
    assert len(index.prompt.ids(index.lm.tokenizer, long_query)) <= index.lm.context_window - 64
    assert len(index.search([long_query], k=3)[0]) == 3


def test_prompt_that_leaves_no_room_is_a_config_error(tiny_causal_lm: str) -> None:
    index = index_for(tiny_causal_lm, max_name_tokens=500)  # the tiny LM's window is 512 tokens
    with pytest.raises(InvalidConfig, match="no room"):
        index.build(DOCS)
    with pytest.raises(Exception, match="exactly once"):
        GenreConfig(prompt="no slot")


def test_sentences_and_pseudo_queries() -> None:
    assert sentences("First one. Second (two)! 3 is third") == ["First one.", "Second (two)!", "3 is third"]
    pairs = pseudo_queries(DOCS[:2], GenreConfig(), sentence="last")
    assert pairs == [
        ("Insulin lowers glucose.", "Insulin and diabetes"),
        ("Smoking causes cancer.", "Smoking and lung cancer"),
    ]


def test_finetuning_raises_the_probability_of_the_target_names(tiny_causal_lm: str, tmp_path: Path) -> None:
    config = GenreConfig(model=tiny_causal_lm, num_beams=4)
    pairs = pseudo_queries(DOCS[:3], config, sentence="last")
    result = finetune(pairs, config, tmp_path / "ft", max_steps=12, batch_size=3, lr=3e-2)
    assert (result.steps, result.pairs) == (12, 3)
    before, after = (
        index_for(tiny_causal_lm),
        index_for(str(tmp_path / "ft")),
    )  # the output is a model setting
    after.build(DOCS[:3])
    for query, name in pairs:
        name_ids = after.prompt.name_ids(after.lm.tokenizer, [name], 64)[0]
        gain = brute_force_logprob(after, query, name_ids) - brute_force_logprob(before, query, name_ids)
        assert gain > 5.0  # nats
    assert len(after.search([pairs[0][0]], k=3)[0]) == 3


def test_finetuning_saves_checkpoints_and_stops_in_time(
    tiny_causal_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexers.train.genre as train

    saved: list[bool] = []
    real_save = train._save
    monkeypatch.setattr(train, "_save", lambda lm, out: saved.append(lm.model.training) or real_save(lm, out))
    config = GenreConfig(model=tiny_causal_lm)
    finetune(
        pseudo_queries(DOCS[:3], config), config, tmp_path / "ft", max_steps=5, batch_size=2, save_every=2
    )
    assert saved == [True, True, False]  # checkpoints at steps 2 and 4 mid-training, then the final model
    assert (tmp_path / "ft" / "config.json").is_file()
    timed = finetune(pseudo_queries(DOCS[:3], config), config, tmp_path / "ft", max_steps=50, max_seconds=0)
    assert timed.steps == 1  # out of time after the first step
