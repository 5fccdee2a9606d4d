"""Tokenizers: characters, GPT-2's byte-level BPE (written here from scratch), and Hugging Face's files.

    tok = CharTokenizer.from_text(text)           # one id per distinct character
    tok = BPETokenizer.train(text, vocab_size=512) # byte-level BPE, GPT-2's pre-split
    ids = tok.encode("To be, or not to be")        # list of ints
    tok.decode(ids)                                # the text back
    tok.save("tok.json"); BPETokenizer.load("tok.json")
    load_tokenizer("tokenizer.json")               # any of the above, or a Hugging Face tokenizer.json

Byte-level BPE: text is first split by GPT-2's pattern (contractions, runs of letters, of digits,
of other symbols, each with at most one leading space, and whitespace), so merges never cross
a word boundary. Each piece becomes its UTF-8 bytes (ids 0-255: every string is encodable, no
unknown token), then the learned merges are applied, lowest rank first. Training starts from
the 256 bytes and repeatedly merges the most frequent adjacent pair into a new id.
"""
import collections
import json
import os
import tempfile
from pathlib import Path

__all__ = ["CharTokenizer", "BPETokenizer", "HFTokenizer", "load_tokenizer", "GPT2_SPLIT_PATTERN"]

GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _write_json(path, obj):
    """Write obj as JSON to path atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(obj, out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_json(path, who):
    """The JSON object in `path`; anything else (not UTF-8, not JSON, not an object) -> ValueError naming it."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise FileNotFoundError(f"{who}: cannot read {path} ({e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{who}: {path} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{who}: {path} holds a JSON {type(obj).__name__}, not a tokenizer object")
    return obj


def _build(path, who, make):
    """make() a tokenizer from a file's fields; malformed fields -> ValueError naming the file."""
    malformed = (TypeError, ValueError, KeyError, AttributeError, IndexError)
    try:
        import regex
        malformed += (regex.error,)  # a bad split pattern
    except ImportError:
        pass
    try:
        return make()
    except malformed as e:
        raise ValueError(f"{who}: {path} is not a valid tokenizer file ({type(e).__name__}: {e})") from None


def _check_ids(ids, n, who):
    ids = [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise ValueError(f"{who}.decode: ids must be in [0, {n}), got {bad[:5]}")
    return ids


class CharTokenizer:
    """One id per character, ids in sorted character order (nanoGPT's Shakespeare encoding)."""

    def __init__(self, chars):
        chars = list(chars)
        if not chars or len(set(chars)) != len(chars) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError("CharTokenizer: chars must be a non-empty sequence of distinct single characters")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        if not isinstance(text, str) or not text:
            raise ValueError("CharTokenizer.from_text: text must be a non-empty str")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"CharTokenizer.encode: character {e.args[0]!r} is not in the vocabulary of "
                             f"{self.vocab_size} characters") from None

    def decode(self, ids):
        return "".join(self.chars[i] for i in _check_ids(ids, self.vocab_size, "CharTokenizer"))

    def save(self, path):
        _write_json(path, {"type": "char", "chars": "".join(self.chars)})

    @classmethod
    def load(cls, path):
        obj = _read_json(path, "CharTokenizer.load")
        if obj.get("type") != "char":
            raise ValueError(f"CharTokenizer.load: {path} is not a character tokenizer (type {obj.get('type')!r})")
        return _build(path, "CharTokenizer.load", lambda: cls(obj["chars"]))

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _merge(ids, pair, new_id):
    """ids with every (non-overlapping, left to right) occurrence of pair replaced by new_id."""
    out, i, n = [], 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """Byte-level BPE with GPT-2's pre-split pattern.

    merges: list of (a, b) id pairs in the order they were learned; merge k makes id 256 + k.
    special_tokens: {"<|endoftext|>": id, ...}, ids after the merges'. encode() treats special
    tokens in the text as ordinary text unless allowed_special names them ("all" for all).
    """

    def __init__(self, merges=(), special_tokens=None, pattern=GPT2_SPLIT_PATTERN):
        import regex
        self.pattern = pattern
        self._split = regex.compile(pattern)
        self.merges = [tuple(int(x) for x in m) for m in merges]
        self.ranks = {pair: 256 + k for k, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for k, (a, b) in enumerate(self.merges):
            if not (0 <= a < 256 + k and 0 <= b < 256 + k):
                raise ValueError(f"BPETokenizer: merge {k} ({a}, {b}) uses an id that does not exist yet")
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.special_tokens = dict(special_tokens or {})
        n = len(self.vocab)
        if sorted(self.special_tokens.values()) != list(range(n, n + len(self.special_tokens))):
            raise ValueError(f"BPETokenizer: special token ids must follow the {n} byte/merge ids, "
                             f"got {self.special_tokens}")
        self.inverse_special = {i: s for s, i in self.special_tokens.items()}
        self._cache = {}

    @classmethod
    def train(cls, text, vocab_size, special_tokens=(), pattern=GPT2_SPLIT_PATTERN, verbose=False):
        """Learn vocab_size - 256 - len(special_tokens) merges from text (a str).

        Pieces are counted once per distinct piece (with their multiplicity), so training time
        grows with the number of distinct words, not the length of the text. Ties between pairs
        of equal count go to the pair first met in the text, so training is deterministic.
        """
        import regex
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train: text must be a str, got {type(text).__name__}")
        special_tokens = list(special_tokens)
        n_merges = vocab_size - 256 - len(special_tokens) if isinstance(vocab_size, int) else -1
        if isinstance(vocab_size, bool) or n_merges < 0:
            raise ValueError(f"BPETokenizer.train: vocab_size must be an int >= {256 + len(special_tokens)} "
                             f"(256 bytes + {len(special_tokens)} special tokens), got {vocab_size!r}")
        counts = collections.Counter(regex.findall(pattern, text))
        words = [list(w.encode("utf-8")) for w in counts]
        freqs = list(counts.values())
        merges = []
        for k in range(n_merges):
            pairs = collections.Counter()
            for ids, f in zip(words, freqs):
                for pair in zip(ids, ids[1:]):
                    pairs[pair] += f
            if not pairs:
                break  # every piece is one token: nothing left to merge
            pair = max(pairs, key=pairs.__getitem__)  # first inserted wins among equal counts
            new_id = 256 + k
            words = [_merge(ids, pair, new_id) if len(ids) > 1 else ids for ids in words]
            merges.append(pair)
            if verbose:
                print(f"merge {k + 1}/{n_merges}: {pair} -> {new_id} ({pairs[pair]} occurrences)")
        n = 256 + len(merges)
        return cls(merges, {s: n + i for i, s in enumerate(special_tokens)}, pattern)

    @property
    def vocab_size(self):
        return len(self.vocab) + len(self.special_tokens)

    def _encode_piece(self, piece):
        if piece in self._cache:
            return self._cache[piece]
        ids = list(piece.encode("utf-8"))
        while len(ids) > 1:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, self.ranks[pair])
        if len(self._cache) < 100_000:
            self._cache[piece] = ids
        return ids

    def encode_ordinary(self, text):
        """text -> ids, with no special-token handling."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: text must be a str, got {type(text).__name__}")
        out = []
        for piece in self._split.findall(text):
            out.extend(self._encode_piece(piece))
        return out

    def encode(self, text, allowed_special=()):
        """text -> ids. Special tokens named in allowed_special ("all": every one) become their ids;
        otherwise their text is encoded like any other."""
        import regex
        specials = self.special_tokens if allowed_special == "all" else \
            {s: self.special_tokens[s] for s in allowed_special if s in self.special_tokens}
        unknown = set(allowed_special) - set(self.special_tokens) if allowed_special != "all" else set()
        if unknown:
            raise ValueError(f"BPETokenizer.encode: {sorted(unknown)} are not special tokens of this tokenizer "
                             f"(it has {sorted(self.special_tokens)})")
        if not specials:
            return self.encode_ordinary(text)
        parts = regex.split("(" + "|".join(regex.escape(s) for s in specials) + ")", text)
        out = []
        for part in parts:
            out.extend([specials[part]] if part in specials else self.encode_ordinary(part))
        return out

    def decode(self, ids, errors="replace"):
        """ids -> text; byte sequences that are not valid UTF-8 become U+FFFD (errors="replace")."""
        chunks = []
        for i in _check_ids(ids, self.vocab_size, "BPETokenizer"):
            chunks.append(self.inverse_special[i].encode("utf-8") if i in self.inverse_special else self.vocab[i])
        return b"".join(chunks).decode("utf-8", errors=errors)

    def save(self, path):
        """Write the tokenizer as JSON: pattern, merges (in order), special tokens."""
        _write_json(path, {"type": "bpe", "version": 1, "pattern": self.pattern,
                           "merges": [list(m) for m in self.merges], "special_tokens": self.special_tokens})

    @classmethod
    def load(cls, path):
        obj = _read_json(path, "BPETokenizer.load")
        if obj.get("type") != "bpe":
            raise ValueError(f"BPETokenizer.load: {path} is not a minigrad BPE tokenizer (type {obj.get('type')!r}); "
                             "for a Hugging Face tokenizer.json use load_tokenizer or HFTokenizer")
        return _build(path, "BPETokenizer.load",
                      lambda: cls(obj["merges"], obj.get("special_tokens"), obj.get("pattern", GPT2_SPLIT_PATTERN)))

    def to_hf(self, path=None):
        """The same tokenizer as a Hugging Face `tokenizers.Tokenizer` (ByteLevel BPE), saved to
        path (a tokenizer.json) when given. Needs the `tokenizers` package."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
        if self.pattern != GPT2_SPLIT_PATTERN:
            raise ValueError("BPETokenizer.to_hf: only GPT-2's split pattern has a Hugging Face ByteLevel equivalent")
        char = _bytes_to_unicode()
        show = lambda b: "".join(char[x] for x in b)  # noqa: E731
        vocab = {show(tok): i for i, tok in enumerate(self.vocab)}
        merges = [(show(self.vocab[a]), show(self.vocab[b])) for a, b in self.merges]
        tok = Tokenizer(models.BPE(vocab, merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        if self.special_tokens:
            tok.add_special_tokens(sorted(self.special_tokens, key=self.special_tokens.get))
        if path is not None:
            tok.save(str(path))
        return tok

    def __repr__(self):
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def _bytes_to_unicode():
    """GPT-2's printable stand-in for each byte (Hugging Face's ByteLevel alphabet): printable Latin-1
    bytes stand for themselves, the others are shifted to code points from 256 up."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    out, shift = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + shift)
            shift += 1
    return out


class HFTokenizer:
    """A Hugging Face tokenizer.json (through the `tokenizers` package) with encode/decode/vocab_size."""

    def __init__(self, path):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ImportError("HFTokenizer: reading a Hugging Face tokenizer.json needs the `tokenizers` package "
                              "(pip install tokenizers)") from None
        self.path = str(path)
        try:
            self.tokenizer = Tokenizer.from_file(self.path)
        except Exception as e:  # tokenizers raises its own Exception type
            raise ValueError(f"HFTokenizer: cannot read {path} as a Hugging Face tokenizer.json ({e})") from None

    @property
    def vocab_size(self):
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text):
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        return self.tokenizer.decode(_check_ids(ids, self.vocab_size, "HFTokenizer"), skip_special_tokens=False)

    def __repr__(self):
        return f"HFTokenizer({self.path!r}, vocab_size={self.vocab_size})"


def load_tokenizer(path):
    """A tokenizer from a JSON file: minigrad's (CharTokenizer, BPETokenizer) or a Hugging Face
    tokenizer.json (read with the `tokenizers` package). A directory means its tokenizer.json."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    obj = _read_json(path, "load_tokenizer")
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "char":
        return CharTokenizer.load(path)
    if kind == "bpe":
        return BPETokenizer.load(path)
    if isinstance(obj, dict) and "model" in obj:
        return _build(path, "load_tokenizer", lambda: HFTokenizer(path))
    raise ValueError(f"load_tokenizer: {path} is neither a minigrad tokenizer nor a Hugging Face tokenizer.json")
