"""The registry: names, parameters and their validation."""

from __future__ import annotations

import pytest

import simlab
from simlab import errors


def test_all_methods_registered():
    assert simlab.method_names() == ["histogram", "ssim", "phash", "sift", "rootsift",
                                     "akaze", "vgg16"]
    assert set(simlab.available_methods()) >= {"histogram", "ssim", "phash", "sift",
                                               "rootsift", "akaze"}


def test_unknown_method_lists_the_known_ones(original):
    with pytest.raises(errors.UnknownMethodError, match="try one of: histogram, ssim"):
        simlab.compare(original, original, "surf")


def test_unknown_parameter_lists_the_valid_ones(original):
    with pytest.raises(errors.InvalidParameterError, match="valid parameters: max_keypoints"):
        simlab.compare(original, original, "sift", ratios=0.8)


@pytest.mark.parametrize("method, params, message", [
    ("sift", {"ratio": 1.5}, r"\[0.1, 1.0\]"),
    ("sift", {"model": "perspective"}, "one of"),
    ("histogram", {"bins": 2.5}, "whole number"),
    ("histogram", {"ignore_white": "yes"}, "True or False"),
    ("ssim", {"win_size": "7"}, "number"),
])
def test_bad_parameter_values(method, params, message, original):
    with pytest.raises(errors.InvalidParameterError, match=message):
        simlab.compare(original, original, method, **params)


def test_cli_value_parsing():
    spec = simlab.get_method("sift")
    by_name = {p.name: p for p in spec.params}
    assert by_name["ratio"].parse("0.8", "sift") == 0.8
    assert by_name["cross_check"].parse("true", "sift") is True
    assert by_name["max_keypoints"].parse("500", "sift") == 500
    with pytest.raises(errors.InvalidParameterError):
        by_name["max_keypoints"].parse("many", "sift")
    weights = simlab.get_method("vgg16").params[0]
    assert weights.parse("none", "vgg16") is None


def test_extract_key_holds_only_extraction_parameters():
    spec = simlab.get_method("sift")
    assert spec.extract_key(spec.resolve({"ratio": 0.6})) == (("max_keypoints", 2000),)
