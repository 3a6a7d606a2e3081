from dcgan import cache


def test_the_cache_root_is_the_argument_then_the_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path / "env"))
    assert cache.root(tmp_path / "given") == tmp_path / "given"
    assert cache.root() == tmp_path / "env"
    monkeypatch.delenv(cache.ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.root() == tmp_path / "home" / ".cache" / "dcgan-bench"


def test_keys_ignore_dict_order_and_change_with_any_input():
    assert cache.key({"a": 1, "b": [1, 2]}) == cache.key({"b": [1, 2], "a": 1})
    assert len({cache.key({"a": 1}), cache.key({"a": 2}), cache.key({"a": 1, "b": None})}) == 3
    assert len(cache.key({"a": 1})) == 20 and len(cache.key({"a": 1}, length=8)) == 8


def one():
    return 1


def other():
    return 1


def test_the_code_fingerprint_follows_the_source_text_and_the_extra_parts():
    assert cache.code_fingerprint(one) != cache.code_fingerprint(other)  # same behaviour, other text
    assert cache.code_fingerprint(one, extra=("1.5",)) != cache.code_fingerprint(one, extra=("1.6",))
    assert cache.code_fingerprint(one, other) != cache.code_fingerprint(one)
