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


def test_the_code_fingerprint_follows_the_code_and_the_extra_parts():
    # same behaviour, other name: other code
    assert cache.code_fingerprint(one) != cache.code_fingerprint(other)
    one_15, one_16 = (cache.code_fingerprint(one, extra=(v,)) for v in ("1.5", "1.6"))
    assert one_15 != one_16
    assert cache.code_fingerprint(one, other) != cache.code_fingerprint(one)


def test_the_code_fingerprint_ignores_layout_comments_and_docstrings_but_not_edits():
    plain = "def f(x, y):\n    return x + y\n"
    laid_out = (
        '    def f(\n        x,\n        y,\n    ):\n        """Adds."""\n'
        "        # a comment\n        return (x\n                + y)\n"
    )
    assert cache.syntax(plain) == cache.syntax(laid_out)
    assert cache.syntax(plain) != cache.syntax(plain.replace("x + y", "x - y"))
    assert cache.syntax('def g():\n    """Only a docstring."""\n') == cache.syntax(
        "def g():\n    pass\n"
    )
