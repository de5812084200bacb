"""Input parsing: every accepted format becomes the right tensor; every mistake gets a located sentence."""

import io
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lossdemos import operations
from lossdemos.parsing import (
    InputError,
    TooMany,
    load_npy,
    parse_json_tensor,
    parse_target,
    parse_tensor,
)

TWO_ROWS = [[2.0, 1.0, 0.1], [1.0, 2.5, 0.5]]


def as_list(tensor: torch.Tensor) -> list:
    return tensor.tolist()


def close(tensor: torch.Tensor, expected) -> bool:
    expected = torch.tensor(expected, dtype=tensor.dtype)
    return tensor.shape == expected.shape and torch.allclose(tensor, expected, equal_nan=True)


# --- accepted text formats --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[[2, 1, 0.1], [1, 2.5, 0.5]]",
        "[[2,1,0.1],[1,2.5,0.5]]",
        "2 1 0.1\n1 2.5 0.5",
        "2, 1, 0.1\n1, 2.5, 0.5",
        "2; 1; 0.1\n1; 2.5; 0.5",
        "2\t1\t0.1\r\n1\t2.5\t0.5\r\n",
        "\n2 1 0.1\n\n1 2.5 0.5\n\n",
        "tensor([[2.0000, 1.0000, 0.1000],\n        [1.0000, 2.5000, 0.5000]])",
        "tensor([[2.0000, 1.0000, 0.1000],\n        [1.0000, 2.5000, 0.5000]], requires_grad=True)",
        "tensor([[2.0000, 1.0000, 0.1000], [1.0000, 2.5000, 0.5000]], dtype=torch.float64)",
        "tensor([[2., 1., 0.1], [1., 2.5, 0.5]], device='cpu', grad_fn=<AddBackward0>)",
        "Parameter containing:\ntensor([[2.0, 1.0, 0.1], [1.0, 2.5, 0.5]], requires_grad=True)",
        "array([[2. , 1. , 0.1],\n       [1. , 2.5, 0.5]])",
        "np.array([[2, 1, 0.1], [1, 2.5, 0.5]], dtype=float32)",
        "[[2.  1.  0.1]\n [1.  2.5 0.5]]",
        "[[2.0000e+00, 1.0000e+00, 1.0000e-01], [1.0000e+00, 2.5000e+00, 5.0000e-01]]",
        "[2, 1, 0.1]\n[1, 2.5, 0.5]",
    ],
)
def test_every_text_format_gives_the_same_two_rows(text):
    assert close(parse_tensor(text, field="logits"), TWO_ROWS)


@pytest.mark.parametrize(
    "text",
    [
        "［［２，１，０.１］，［１，２.５，０.５］］",  # full-width brackets, commas and digits
        "【【2，1，0.1】，【1，2.5，0.5】】",
        "2　1　0.1\n1　2.5　0.5",  # ideographic spaces
        "2、1、0.1\n1、2.5、0.5",
        "2；1；0.1\n1；2.5；0.5",
        "tensor（[[2.0，1.0，0.1]，[1.0，2.5，0.5]]）",
    ],
)
def test_chinese_full_width_punctuation_is_accepted(text):
    assert close(parse_tensor(text, field="logits"), TWO_ROWS)


def test_one_line_is_one_dimensional():
    assert parse_tensor("2 1 0.1", field="logits").shape == (3,)
    assert parse_tensor("[2, 1, 0.1]", field="logits").shape == (3,)


def test_single_column_lines_are_rows():
    assert parse_tensor("1\n2\n3", field="logits").shape == (3, 1)


def test_pasted_zero_dimensional_tensor():
    tensor = parse_tensor("tensor(2.5000, grad_fn=<MeanBackward0>)", field="loss")
    assert tensor.shape == ()
    assert tensor.item() == 2.5


def test_nan_inf_and_scientific_notation():
    tensor = parse_tensor("nan inf -inf 1e-3 -2.5E+2 NaN Infinity .5 3.", field="logits")
    assert close(
        tensor,
        [float("nan"), float("inf"), -float("inf"), 1e-3, -250, float("nan"), float("inf"), 0.5, 3],
    )


def test_three_dimensional_brackets():
    tensor = parse_tensor("[[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]", field="logits")
    assert tensor.shape == (2, 3, 2)
    assert tensor[1, 2, 1].item() == 12


def test_dtype_is_honoured():
    assert parse_tensor("1 2", field="logits").dtype == torch.float32
    assert parse_tensor("1 2", field="logits", dtype=torch.float64).dtype == torch.float64
    assert parse_tensor("0 1 -100", field="target", dtype=torch.long).tolist() == [0, 1, -100]


def test_float32_parsing_rounds_like_torch_tensor():
    tensor = parse_tensor("0.1 0.7 1e-8", field="logits")
    assert torch.equal(tensor, torch.tensor([0.1, 0.7, 1e-8]))


# --- text errors ------------------------------------------------------------------------------


def error_of(function, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        function(*args, **kwargs)
    return caught.value


def test_ragged_rows_name_the_odd_row():
    error = error_of(parse_tensor, "1 2 3 4 5\n1 2 3 4 5\n1 2 3 4\n1 2 3 4 5", field="logits")
    assert error.message == "row 3 has 4 values, the others have 5"
    assert error.location == {"field": "logits", "row": 3}


def test_ragged_bracket_rows_name_the_odd_row():
    error = error_of(parse_tensor, "[[1, 2], [3, 4], [5]]", field="logits")
    assert error.message == "row 3 has 1 value, the others have 2"


def test_ragged_outer_lists_are_named():
    error = error_of(parse_tensor, "[[[1, 2]], [[3, 4], [5, 6]], [[7, 8]]]", field="logits")
    assert error.message == "list 2 at depth 2 has 2 items, the others have 1"


def test_not_a_number_names_row_and_column():
    error = error_of(parse_tensor, "1 2 3\nabc 4 5", field="logits")
    assert error.message == "'abc' is not a number (row 2, column 1)"
    assert error.location == {"field": "logits", "row": 2, "column": 1}


def test_not_a_number_in_one_dimension_names_the_position():
    error = error_of(parse_tensor, "[1, 2, x3]", field="logits")
    assert error.message == "'x3' is not a number (position 3)"


@pytest.mark.parametrize("token", ["1-2", "1.2.3", "0x10", "1_000", "--1", "e5", "1e", "π"])
def test_malformed_numbers_are_refused(token):
    error = error_of(parse_tensor, f"1 {token} 3", field="logits")
    assert error.message.startswith(f"'{token}' is not a number")


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "[]", "[[], []]", "tensor([])"])
def test_empty_input(text):
    assert error_of(parse_tensor, text, field="logits").message == "the logits are empty"


def test_empty_singular_field():
    assert error_of(parse_tensor, "", field="target").message == "the target is empty"


def test_too_many_numbers_is_its_own_error():
    with pytest.raises(TooMany) as caught:
        parse_tensor("1 " * 1_200_000, field="logits")
    assert caught.value.message == "too many numbers: 1,200,000 (limit 1,000,000)"
    assert caught.value.location["field"] == "logits"


def test_limit_is_configurable():
    with pytest.raises(TooMany):
        parse_tensor("1 2 3", field="logits", max_numbers=2)
    assert parse_tensor("1 2 3", field="logits", max_numbers=3).numel() == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "the logits have a '[' that is never closed"),
        ("1, 2]", "the logits have a ']' without a matching '['"),
        ("[1,, 2]", "the logits have an empty value between two commas"),
        ("1, , 2", "the logits have an empty value between two commas"),
    ],
)
def test_bracket_and_comma_mistakes(text, message):
    assert error_of(parse_tensor, text, field="logits").message == message


def test_numbers_beside_lists_are_refused():
    error = error_of(parse_tensor, "[[1, 2], 3]", field="logits")
    assert error.message.startswith("'3' in the logits is not nested like the other numbers")


def test_abbreviated_printout_is_explained():
    error = error_of(parse_tensor, "tensor([0.1, 0.2, ..., 0.9])", field="logits")
    assert "abbreviated with '...'" in error.message


def test_text_around_a_pasted_tensor_is_refused():
    error = error_of(parse_tensor, "tensor([1., 2.]) and more", field="logits")
    assert "unexpected text around the numbers" in error.message


def test_whole_numbers_required_for_integer_dtype():
    error = error_of(parse_tensor, "0 1.5 2", field="target", dtype=torch.long)
    assert error.message == "target 1.5 is not a whole number"
    assert error.location == {"field": "target", "position": 2}


def test_non_text_is_refused_cleanly():
    assert error_of(parse_tensor, 12, field="logits").message == "the logits must be text"


# --- JSON -------------------------------------------------------------------------------------


def test_json_nested_lists():
    tensor = parse_json_tensor(TWO_ROWS, field="logits")
    assert tensor.dtype == torch.float32
    assert close(tensor, TWO_ROWS)


def test_json_number_is_zero_dimensional():
    assert parse_json_tensor(2.5, field="x").shape == ()


def test_json_special_strings_for_nan_and_infinity():
    assert close(
        parse_json_tensor(["nan", "-inf", "Infinity", 1], field="x"),
        [float("nan"), -float("inf"), float("inf"), 1],
    )


def test_json_string_is_parsed_as_text():
    assert close(parse_json_tensor("tensor([1., 2.])", field="x"), [1, 2])


def test_json_ragged_rows():
    error = error_of(parse_json_tensor, [[1, 2, 3], [1, 2, 3], [1, 2]], field="logits")
    assert error.message == "row 3 has 2 values, the others have 3"


def test_json_mixed_nesting():
    error = error_of(parse_json_tensor, [[1, 2], 3], field="logits")
    assert "not nested like the other numbers" in error.message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[1, 2], [None, 4]], "null is not a number (row 2, column 1)"),
        ([[1, "abc"]], "'abc' is not a number (row 1, column 2)"),
        ([1, {"a": 1}], "an object is not a number (position 2)"),
        (True, "the x must be a number or a list of numbers, not true"),
        ([True, 1], "true is not a number (position 1)"),
        ([[1.5, 2.0], [0.5, False]], "false is not a number (row 2, column 2)"),
        ([[True, False]], "true is not a number (row 1, column 1)"),
        ([[[1, 2], [3, True]]], "true is not a number (at x[0][1][1])"),
        ({"a": 1}, "the x must be a number or a list of numbers, not an object"),
        (None, "the x must be a number or a list of numbers, not null"),
        ([], "the x is empty"),
        ([[], []], "the x is empty"),
    ],
)
def test_json_errors(value, message):
    assert error_of(parse_json_tensor, value, field="x").message == message


def test_json_booleans_are_refused_with_their_place():
    error = error_of(parse_json_tensor, [[0.5, 1], [True, 2]], field="logits")
    assert error.message == "true is not a number (row 2, column 1)"
    assert error.location == {"field": "logits", "row": 2, "column": 1}


def test_json_booleans_are_refused_as_targets_too():
    error = error_of(parse_target, [0, True, 2])
    assert error.message == "true is not a number (position 2)"


def test_json_numbers_equal_to_one_and_zero_are_still_numbers():
    assert parse_json_tensor([[1, 0.0], [1.0, 0]], field="x").tolist() == [[1, 0], [1, 0]]


def test_json_too_many():
    with pytest.raises(TooMany) as caught:
        parse_json_tensor([0.0] * 1_200_000, field="logits")
    assert caught.value.message == "too many numbers: 1,200,000 (limit 1,000,000)"


def test_json_whole_numbers_for_long():
    error = error_of(parse_json_tensor, [0, 1.5], field="target", dtype=torch.long)
    assert error.message == "target 1.5 is not a whole number"


# --- targets ----------------------------------------------------------------------------------


def test_whole_numbers_are_class_indices():
    target = parse_target("0 2 -100")
    assert target.dtype == torch.long
    assert target.tolist() == [0, 2, -100]


def test_fractions_are_probabilities_when_the_input_shape_is_unknown():
    target = parse_target("[[0.2, 0.8], [0.5, 0.5]]")
    assert target.dtype == torch.float32
    assert target.shape == (2, 2)


def test_input_shape_makes_one_hot_rows_probabilities():
    target = parse_target([[0, 1, 0], [1, 0, 0]], input_shape=(2, 3))
    assert target.dtype == torch.float32
    assert target.tolist() == [[0, 1, 0], [1, 0, 0]]


def test_input_shape_makes_other_shapes_indices():
    assert parse_target("[0, 2]", input_shape=(2, 3)).dtype == torch.long


def test_fractional_class_index_is_refused():
    error = error_of(parse_target, "[0, 1.5]", input_shape=(2, 3))
    assert error.message == "target 1.5 is not a whole number"


def test_target_field_name_is_used():
    error = error_of(parse_target, "x", field="labels")
    assert error.message == "'x' is not a number (position 1)"
    assert error.location["field"] == "labels"


# --- .npy -------------------------------------------------------------------------------------


def npy_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_npy_float_arrays_keep_their_dtype(dtype):
    array = np.arange(12, dtype=dtype).reshape(3, 4) / 7
    tensor = load_npy(npy_bytes(array), field="logits")
    assert tensor.dtype == torch.from_numpy(array).dtype
    assert np.array_equal(tensor.numpy(), array)


def test_npy_fortran_order():
    array = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    tensor = load_npy(npy_bytes(array), field="logits")
    assert np.array_equal(tensor.numpy(), array)


def test_npy_big_endian_is_converted():
    array = np.arange(6, dtype=">f4").reshape(2, 3)
    tensor = load_npy(npy_bytes(array), field="logits")
    assert tensor.dtype == torch.float32
    assert tensor.tolist() == array.tolist()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_npy_integers_become_int64(dtype):
    array = np.array([0, 1, 1], dtype=dtype)
    tensor = load_npy(npy_bytes(array), field="target")
    assert tensor.dtype == torch.long
    assert tensor.tolist() == [0, 1, 1]


def test_npy_zero_dimensional():
    assert load_npy(npy_bytes(np.float32(2.5)), field="x").shape == ()


def test_npy_from_a_writable_buffer_shares_memory():
    data = bytearray(npy_bytes(np.zeros(4, dtype=np.float32)))
    tensor = load_npy(data, field="logits")
    data[-4:] = np.float32(7).tobytes()
    assert tensor[-1].item() == 7  # no copy was made


def read_only_inputs(**arrays: np.ndarray) -> tuple[dict[str, torch.Tensor], list[bytes]]:
    bodies = [npy_bytes(array) for array in arrays.values()]
    tensors = {name: load_npy(body, field=name) for name, body in zip(arrays, bodies, strict=True)}
    return tensors, bodies


_rng = np.random.default_rng(5)
_logits = _rng.standard_normal((6, 4)).astype(np.float32)
_probs = np.exp(_logits) / np.exp(_logits).sum(1, keepdims=True)
_classes = np.array([0, 3, 1, -100, 2, 2])


@pytest.mark.parametrize(
    ("op", "arrays", "options"),
    [
        ("softmax", {"logits": _logits}, {}),
        ("log-softmax", {"logits": _logits}, {}),
        ("entropy", {"probs": _probs}, {"base": "2"}),
        ("entropy", {"counts": np.array([1, 1, 2])}, {}),
        ("nll", {"input": np.log(_probs), "target": _classes}, {"reduction": "none"}),
        (
            "cross-entropy",
            {"logits": _logits, "target": _classes, "weight": np.arange(1, 5, dtype=np.float32)},
            {"label_smoothing": "0.1"},
        ),
        ("cross-entropy", {"logits": _logits, "target": _probs}, {"label_smoothing": "0.2"}),
        ("kl", {"input": np.log(_probs), "target": _probs[::-1].copy()}, {"reduction": "none"}),
        (
            "perplexity",
            {"logits": _logits, "target": _classes, "sequence_ids": np.array([0, 0, 1, 1, 1, 2])},
            {"base": "2"},
        ),
        (
            "bce-with-logits",
            {
                "logits": _logits,
                "target": _probs,
                "weight": np.ones(4, dtype=np.float32),
                "pos_weight": np.full(4, 2.0, dtype=np.float32),
            },
            {},
        ),
    ],
)
def test_no_op_writes_to_an_uploaded_tensor_that_shares_the_request_body(op, arrays, options):
    # the API builds tensors over the request body's immutable bytes without a copy; that is only
    # sound while no computation writes to its inputs
    tensors, bodies = read_only_inputs(**arrays)
    before = [bytearray(body) for body in bodies]  # copies

    operations.compute(op, options, tensors=tensors)

    assert [bytearray(body) for body in bodies] == before


def test_npy_from_read_only_bytes_shares_them_instead_of_copying():
    body = npy_bytes(np.arange(1000, dtype=np.float32))

    tensor = load_npy(body, field="logits")

    start = np.frombuffer(body, dtype=np.uint8).ctypes.data
    assert start <= tensor.data_ptr() < start + len(body)
    assert tensor[999].item() == 999


def test_npy_object_arrays_are_refused_without_unpickling():
    array = np.array([{"a": 1}, None], dtype=object)
    error = error_of(load_npy, npy_bytes(array, allow_pickle=True), field="logits")
    assert "Python objects" in error.message


@pytest.mark.parametrize(
    "array",
    [
        np.array([1 + 2j, 3j]),
        np.array(["a", "b"]),
        np.zeros(2, dtype=[("x", "f4"), ("y", "f4")]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_npy_non_real_arrays_are_refused(array):
    error = error_of(load_npy, npy_bytes(array), field="logits")
    assert error.message.startswith("the logits file holds")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a numpy file at all",
        b"\x93NUMPY\x01\x00",
        b"\x93NUMPY\x01\x00\x10\x00{'descr': garbage}",
        b"\x93NUMPY\x09\x00" + b"x" * 100,
        npy_bytes(np.zeros(3))[:20],
    ],
)
def test_corrupted_npy_is_refused_cleanly(data):
    error = error_of(load_npy, data, field="logits")
    assert error.message == "the logits file is not a valid .npy file (save it with np.save)"


def test_truncated_npy_data_is_refused():
    data = npy_bytes(np.zeros((100, 10), dtype=np.float32))[:-8]
    error = error_of(load_npy, data, field="logits")
    assert error.message.startswith("the logits file is truncated")


def test_npz_archive_is_explained():
    buffer = io.BytesIO()
    np.savez(buffer, logits=np.zeros(3))
    error = error_of(load_npy, buffer.getvalue(), field="logits")
    assert ".npz archive" in error.message


def test_npy_too_many_numbers_is_refused_before_reading_data():
    header_only = npy_bytes(np.zeros((10, 10), dtype=np.float32))[:128]  # no data at all
    with pytest.raises(TooMany) as caught:
        load_npy(header_only, field="logits", max_numbers=50)
    assert caught.value.message == "too many numbers: 100 (limit 50)"


def test_npy_empty_array():
    # (0, 3) is a batch of no examples, which the losses answer as PyTorch does; (3, 0) is empty
    assert error_of(load_npy, npy_bytes(np.zeros((3, 0))), field="logits").message == (
        "the logits are empty"
    )


# --- robustness -------------------------------------------------------------------------------


ARRAYS = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(ARRAYS)
def test_json_text_round_trips_exactly(array):
    text = json.dumps(array.astype(np.float64).tolist())
    assert np.array_equal(parse_tensor(text, field="x").numpy(), array)
    assert np.array_equal(parse_json_tensor(array.tolist(), field="x").numpy(), array)


@settings(max_examples=60, deadline=None)
@given(ARRAYS)
def test_pasted_torch_and_numpy_output_round_trips(array):
    tensor = torch.from_numpy(array)
    torch.set_printoptions(precision=10, profile="full")
    try:
        pasted = repr(tensor)
    finally:
        torch.set_printoptions(profile="default")
    assert np.allclose(parse_tensor(pasted, field="x").numpy(), array, rtol=1e-6, atol=1e-30)
    with np.printoptions(threshold=10**6, floatmode="unique"):
        assert np.array_equal(parse_tensor(repr(array), field="x").numpy(), array)
        assert np.array_equal(parse_tensor(str(array), field="x").numpy(), array)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789.,;[]()-+eE nanif\t\n，【】xtensor=<>_'")),
        max_size=40,
    )
)
def test_arbitrary_text_gives_a_tensor_or_an_input_error(text):
    outcome = outcome_of(parse_tensor, text, field="x")
    if isinstance(outcome, InputError):
        assert outcome.message
        assert outcome.location["field"] == "x"
    else:
        assert outcome.numel() > 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_the_npy_magic_give_an_input_error(tail):
    outcome = outcome_of(load_npy, b"\x93NUMPY\x01\x00" + tail, field="x")
    assert isinstance(outcome, InputError)
    assert outcome.message


def outcome_of(function, *args, **kwargs):
    """The result, or the InputError raised (any other exception fails the test)."""
    try:
        return function(*args, **kwargs)
    except InputError as error:
        return error


def test_too_large_for_float32_is_refused():
    error = error_of(parse_tensor, "1 1e39", field="logits")
    assert (
        error.message
        == "1e+39 in the logits is too large for float32 (the largest is about 3.4e+38)"
    )
    assert parse_tensor("1 1e39", field="logits", dtype=torch.float64)[1].item() == 1e39
