"""minigrad.text: character and byte-level BPE tokenizers, tiny Shakespeare, TokenBlocks."""
import hashlib
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.text import BPETokenizer, CharTokenizer, HFTokenizer, TokenBlocks, load_tinyshakespeare, load_tokenizer
from minigrad.text import datasets as text_datasets

SAMPLE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
          "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
          "It's 1234 o'clock, they'll say; we've done   it!  ") * 3
ODD = "naïve café — 日本語 テキスト 🎉 ٣٤ \t tabs\r\n and  spaces   \n"


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(SAMPLE + ODD, 300, special_tokens=["<|endoftext|>"])


def test_char_tokenizer_round_trip_and_save(tmp_path):
    tok = CharTokenizer.from_text(SAMPLE)
    assert tok.vocab_size == len(set(SAMPLE)) and tok.chars == sorted(set(SAMPLE))
    ids = tok.encode("Speak, speak.")
    assert tok.decode(ids) == "Speak, speak." and tok.decode(np.array(ids)) == "Speak, speak."
    tok.save(tmp_path / "c.json")
    again = load_tokenizer(tmp_path / "c.json")
    assert isinstance(again, CharTokenizer) and again.encode(SAMPLE) == tok.encode(SAMPLE)
    with pytest.raises(ValueError, match="'Z' is not in the vocabulary"):
        tok.encode("Zebra")
    with pytest.raises(ValueError, match="ids must be in"):
        tok.decode([tok.vocab_size])


def test_bpe_training_compresses_and_round_trips(bpe):
    assert bpe.vocab_size == 300 and len(bpe.merges) == 300 - 256 - 1
    ids = bpe.encode(SAMPLE)
    assert len(ids) < 0.6 * len(SAMPLE.encode("utf-8"))
    assert bpe.decode(ids) == SAMPLE
    for text in [ODD, "", " ", "unseen words: zyxwvut QQQ", "\x00\x01 control", "a" * 50]:
        assert bpe.decode(bpe.encode(text)) == text
    assert bpe.vocab[bpe.encode(" speak")[0]] != b" "  # a frequent word with its space became one token


def test_bpe_follows_gpt2_pre_split(bpe):
    # merges never cross the split's boundaries: every token decodes inside one piece of the pattern
    import regex
    pieces = regex.findall(bpe.pattern, SAMPLE)
    assert "'s" in regex.findall(bpe.pattern, "It's") and " 1234" in regex.findall(bpe.pattern, " 1234")
    position = 0
    boundaries = {0}
    for p in pieces:
        position += len(p.encode("utf-8"))
        boundaries.add(position)
    offset = 0
    for i in bpe.encode(SAMPLE):
        start, offset = offset, offset + len(bpe.vocab[i])
        assert not any(start < b < offset for b in boundaries)


def test_bpe_matches_hugging_face_tokenizers(bpe, tmp_path):
    pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    bpe.to_hf(path)
    hf = load_tokenizer(path)
    assert isinstance(hf, HFTokenizer) and hf.vocab_size == bpe.vocab_size
    for text in [SAMPLE, ODD, "It's 99 bottles... don't   stop\n\n"]:
        assert hf.encode(text) == bpe.encode(text)
        assert hf.decode(bpe.encode(text)) == text


def test_bpe_special_tokens(bpe):
    eot = bpe.special_tokens["<|endoftext|>"]
    assert eot == 299
    ids = bpe.encode("All:<|endoftext|>Speak", allowed_special="all")
    assert ids.count(eot) == 1 and bpe.decode(ids) == "All:<|endoftext|>Speak"
    assert bpe.encode("All:<|endoftext|>Speak", allowed_special={"<|endoftext|>"}) == ids
    plain = bpe.encode("<|endoftext|>")
    assert eot not in plain and bpe.decode(plain) == "<|endoftext|>"
    with pytest.raises(ValueError, match="not special tokens"):
        bpe.encode("x", allowed_special={"<|pad|>"})


def test_bpe_save_load_and_bad_input(bpe, tmp_path):
    bpe.save(tmp_path / "bpe.json")
    again = BPETokenizer.load(tmp_path / "bpe.json")
    assert again.merges == bpe.merges and again.special_tokens == bpe.special_tokens
    assert again.encode(SAMPLE + ODD) == bpe.encode(SAMPLE + ODD)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    with pytest.raises(ValueError, match="vocab_size must be an int >= 257"):
        BPETokenizer.train("abc", 256, special_tokens=["<s>"])
    with pytest.raises(TypeError, match="text must be a str"):
        BPETokenizer.train(b"abc", 300)
    with pytest.raises(ValueError, match="ids must be in"):
        bpe.decode([300])
    with pytest.raises(ValueError, match="does not exist yet"):
        BPETokenizer([(1, 999)])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tokenizer(tmp_path / "bad.json")
    CharTokenizer.from_text("ab").save(tmp_path / "char.json")
    with pytest.raises(ValueError, match="not a minigrad BPE"):
        BPETokenizer.load(tmp_path / "char.json")


def test_training_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train("ab ab", 1000)
    assert len(tok.merges) < 5 and tok.decode(tok.encode("ab ab")) == "ab ab"


# ------------------------------------------------------------------ tiny Shakespeare

def test_tiny_shakespeare_loads_verified_and_split():
    if not (text_datasets.data_dir() / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip("tiny Shakespeare is not in the data dir")
    text = load_tinyshakespeare()
    assert len(text.encode("utf-8")) == 1_115_394 and text.startswith("First Citizen")
    train, val = load_tinyshakespeare(split="train"), load_tinyshakespeare(split="val")
    assert train + val == text and len(train) == int(0.9 * len(text))
    with pytest.raises(ValueError, match="split"):
        load_tinyshakespeare(split="test")


def test_missing_corrupt_and_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA_DIR", raising=False)
    with pytest.raises(RuntimeError, match="download=True"):
        load_tinyshakespeare(root=tmp_path / "nothing")
    bad = tmp_path / "bad" / "tinyshakespeare" / "input.txt"
    bad.parent.mkdir(parents=True)
    bad.write_text("not shakespeare")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        load_tinyshakespeare(root=tmp_path / "bad")
    # download=True with an explicit root copies (and verifies) the copy under MINIGRAD_DATA_DIR
    fake = b"To be, or not to be\n" * 10
    offline = tmp_path / "offline" / "tinyshakespeare" / "input.txt"
    offline.parent.mkdir(parents=True)
    offline.write_bytes(fake)
    monkeypatch.setenv("MINIGRAD_DATA_DIR", str(tmp_path / "offline"))
    monkeypatch.setattr(text_datasets, "SHAKESPEARE_SHA256", hashlib.sha256(fake).hexdigest())
    monkeypatch.setattr(text_datasets, "SHAKESPEARE_MIRRORS", [])
    got = load_tinyshakespeare(root=tmp_path / "bad", download=True)  # the corrupt copy is replaced
    assert got == fake.decode() and bad.read_bytes() == fake
    monkeypatch.delenv("MINIGRAD_DATA_DIR")
    with pytest.raises(RuntimeError, match="every source failed"):
        load_tinyshakespeare(root=tmp_path / "empty", download=True)


def test_token_blocks_with_the_data_loader():
    tokens = np.arange(20)
    ds = TokenBlocks(tokens, 5)
    assert len(ds) == 15
    x, y = ds[3]
    np.testing.assert_array_equal(x, [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(y, [4, 5, 6, 7, 8])
    xb, yb = next(iter(mg.utils.data.DataLoader(ds, batch_size=4)))
    assert tuple(xb.shape) == (4, 5) and (yb.numpy() == xb.numpy() + 1).all()
    with pytest.raises(ValueError, match="too few"):
        TokenBlocks(np.arange(5), 5)
    with pytest.raises(IndexError):
        ds[15]
