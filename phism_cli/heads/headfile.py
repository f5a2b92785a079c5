"""The head file, checked before XGBoost's native loader sees it.

A head is XGBoost's own model file (UBJSON `.ubj` or JSON `.json`) with phism's metadata in
the booster attribute `phism`. XGBoost crashes (segmentation fault, abort) on some damaged
files, so phism parses the file itself first, checks that every tree is a well-formed tree
over the features it claims, and compares a checksum over the trees and the metadata that
phism stores when it writes the head: a truncated, padded or bit-flipped head is refused
with one sentence. None of this imports XGBoost.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError, check_file_format
from phism_cli.heads.ubjson import UbjsonError, loads

HEAD_FORMAT = "phism-head"
HEAD_FORMAT_VERSION = 1
HEAD_SUFFIXES = (".ubj", ".json")
ATTRIBUTE = "phism"
MAX_HEAD_BYTES = 2 * 1024**3
_OBJECTIVES = ("multi:softprob", "multi:softmax", "binary:logistic", "reg:squarederror")
_ROOT_PARENT = (2147483647, -1)
_NODE_ARRAYS = ("left_children", "right_children", "parents", "split_indices",
                "split_conditions", "default_left", "base_weights")


def _damaged(path: Path, what: str) -> PhismError:
    return PhismError(f"{path}: not a usable phism head ({what}); the file is damaged or was "
                      "not written by 'phism train-head': train or copy it again")


def parse_head_file(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its parsed model, after checking it is complete and well formed."""
    if not path.is_file():
        raise PhismError(f"{path}: no such head file")
    try:
        size = path.stat().st_size
        if size == 0:
            raise _damaged(path, "the file is empty")
        if size > MAX_HEAD_BYTES:
            raise _damaged(path, f"{size} bytes is far larger than any head")
        raw = path.read_bytes()
    except OSError as exc:
        raise PhismError(f"{path}: cannot read the head ({exc.strerror})") from None
    return raw, parse_head_bytes(raw, path)


def parse_head_bytes(raw: bytes, path: Path) -> dict[str, Any]:
    """The parsed model in `raw` (JSON or UBJSON, told apart by content)."""
    if raw.lstrip()[:2] in (b'{"', b"{\n", b"{ ", b"{\r"):
        try:
            model = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _damaged(path, f"not valid JSON: {' '.join(str(exc).split())[:80]}") from None
    else:
        try:
            model = loads(raw)
        except UbjsonError as exc:
            raise _damaged(path, f"not valid UBJSON: {exc}") from None
    if not isinstance(model, dict):
        raise _damaged(path, "not an XGBoost model")
    return model


def _field(container: Any, *keys: str) -> Any:
    value = container
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise KeyError("/".join(keys))
        value = value[key]
    return value


def _count(value: Any) -> int:
    """XGBoost writes counts as strings ('16') in model parameters."""
    number = int(value) if isinstance(value, str) else value
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ValueError(value)
    return number


def check_booster(model: dict[str, Any], path: Path) -> dict[str, int]:
    """Check that `model` describes well-formed gradient-boosted trees; returns its sizes."""
    try:
        learner = _field(model, "learner")
        params = _field(learner, "learner_model_param")
        n_features = _count(params["num_feature"])
        n_classes = _count(params.get("num_class", "0"))
        n_targets = _count(params.get("num_target", "1"))
        objective = _field(learner, "objective", "name")
        booster = _field(learner, "gradient_booster")
        trees = _field(booster, "model", "trees")
        tree_info = np.asarray(_field(booster, "model", "tree_info"))
        n_trees = _count(_field(booster, "model", "gbtree_model_param", "num_trees"))
        base_score = params.get("base_score", "0")
    except (KeyError, ValueError, TypeError) as exc:
        raise _damaged(path, f"model field {exc} is missing or wrong") from None
    if booster.get("name") != "gbtree" or objective not in _OBJECTIVES:
        raise _damaged(path, f"a {booster.get('name')} booster with objective {objective!r}")
    if not isinstance(trees, list) or len(trees) != n_trees or tree_info.shape != (n_trees,) \
            or n_trees == 0 or n_features == 0:
        raise _damaged(path, f"{n_trees} trees declared but {len(trees)} stored")
    outputs = max(n_classes, n_targets, 1)
    if tree_info.dtype.kind not in "iu" or tree_info.min() < 0 or tree_info.max() >= outputs:
        raise _damaged(path, "a tree is assigned to an output that does not exist")
    scores = _numbers(base_score)
    if scores is None or not np.all(np.isfinite(scores)):
        raise _damaged(path, f"base score {str(base_score)[:40]!r} is not finite")
    for index, tree in enumerate(trees):
        _check_tree(tree, index, n_features, path)
    return {"features": n_features, "classes": n_classes, "targets": n_targets,
            "trees": n_trees}


def _numbers(value: Any) -> np.ndarray | None:
    try:
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else float(value)
        return np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (ValueError, TypeError):
        return None


def _check_tree(tree: Any, index: int, n_features: int, path: Path) -> None:
    where = f"tree {index}"
    try:
        n = _count(_field(tree, "tree_param", "num_nodes"))
        leaf_size = _count(_field(tree, "tree_param").get("size_leaf_vector", "1"))
        arrays = {name: np.asarray(_field(tree, name)) for name in _NODE_ARRAYS}
        split_type = np.asarray(tree.get("split_type", np.zeros(n, np.uint8)))
    except (KeyError, ValueError, TypeError) as exc:
        raise _damaged(path, f"{where}: field {exc} is missing or wrong") from None
    if n == 0 or leaf_size > 1:
        raise _damaged(path, f"{where} has {n} nodes and leaf size {leaf_size}")
    for name, values in arrays.items():
        if values.dtype.kind not in "iuf":
            raise _damaged(path, f"{where}: '{name}' holds values that are not numbers")
        if values.shape != (n,):
            raise _damaged(path, f"{where}: '{name}' holds {values.size} values for {n} nodes")
    if split_type.shape != (n,) or np.any(split_type != 0):
        raise _damaged(path, f"{where} has categorical splits, which phism never writes")
    left = arrays["left_children"].astype(np.int64)
    right = arrays["right_children"].astype(np.int64)
    parents = arrays["parents"].astype(np.int64)
    nodes = np.arange(n)
    leaf = left == -1
    inner = ~leaf
    if np.any(leaf != (right == -1)) or np.any(left[inner] <= nodes[inner]) or \
            np.any(right[inner] <= nodes[inner]) or np.any(left[inner] >= n) or \
            np.any(right[inner] >= n):
        raise _damaged(path, f"{where}: child links are not a tree")
    if parents[0] not in _ROOT_PARENT or np.any(parents[left[inner]] != nodes[inner]) or \
            np.any(parents[right[inner]] != nodes[inner]):
        raise _damaged(path, f"{where}: parent links do not match the child links")
    children = np.concatenate([left[inner], right[inner]])
    if len(np.unique(children)) != len(children) or len(children) != n - 1:
        raise _damaged(path, f"{where}: nodes are shared or unreachable")
    features = arrays["split_indices"].astype(np.int64)[inner]
    if np.any(features < 0) or np.any(features >= n_features):
        raise _damaged(path, f"{where} splits on a feature the model does not have")
    for name in ("split_conditions", "base_weights"):
        if not np.all(np.isfinite(arrays[name].astype(np.float64))):
            raise _damaged(path, f"{where}: '{name}' holds NaN or infinite values")


def _digest_into(value: Any, digest: Any) -> None:
    """Feed a parsed model into a hash in a fixed order (dict keys sorted)."""
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value):
            digest.update(key.encode() + b"\0")
            _digest_into(value[key], digest)
        digest.update(b"}")
    elif isinstance(value, np.ndarray):
        digest.update(f"A{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, list):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _digest_into(item, digest)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def head_checksum(model: dict[str, Any], metadata: dict[str, Any]) -> str:
    """sha256 over the trees (the model without phism's attribute) and the metadata."""
    digest = hashlib.sha256()
    learner = dict(model.get("learner", {}))
    attributes = dict(learner.get("attributes", {}))
    attributes.pop(ATTRIBUTE, None)
    learner["attributes"] = attributes
    _digest_into({**model, "learner": learner}, digest)
    digest.update(json.dumps({k: v for k, v in metadata.items() if k != "checksum"},
                             sort_keys=True).encode())
    return digest.hexdigest()


def read_head(path: str | Path) -> tuple[bytes, dict[str, Any], dict[str, int]]:
    """(file bytes, phism metadata, model sizes) of a head, everything checked."""
    path = Path(path)
    raw, model = parse_head_file(path)
    sizes = check_booster(model, path)
    try:
        text = _field(model, "learner", "attributes", ATTRIBUTE)
    except KeyError:
        raise PhismError(f"{path}: an XGBoost model without phism metadata; was it written "
                         "by 'phism train-head'?") from None
    try:
        meta = json.loads(text)
    except (TypeError, ValueError):
        raise _damaged(path, "its phism metadata is not valid JSON") from None
    check_file_format(meta, path, HEAD_FORMAT, HEAD_FORMAT_VERSION, "head")
    stored = meta.get("checksum")
    if stored is not None and stored != head_checksum(model, meta):
        raise _damaged(path, "its checksum does not match its contents")
    _check_metadata(meta, sizes, path)
    return raw, meta, sizes


def _check_metadata(meta: dict[str, Any], sizes: dict[str, int], path: Path) -> None:
    """The metadata must agree with the trees it describes."""
    try:
        n_features = meta["n_features"]
        task = meta["task"]
        if n_features != sizes["features"]:
            raise ValueError(f"{n_features} features in the metadata, {sizes['features']} in "
                             "the trees")
        if task == "classification":
            values = meta["class_values"]
            if len(values) < 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                          for v in values):
                raise ValueError("class values are not a list of whole numbers")
            if len(values) > 2 and sizes["classes"] != len(values):
                raise ValueError(f"{len(values)} classes but trees for {sizes['classes']}")
        elif task == "regression":
            if meta["n_targets"] != sizes["targets"] or \
                    len(meta.get("targets", [0] * sizes["targets"])) != sizes["targets"]:
                raise ValueError("target count differs from the trees")
        else:
            raise ValueError(f"task {task!r}")
        if not isinstance(meta.get("features", {}), dict) or \
                not isinstance(meta["params"], dict):
            raise ValueError("features or params are not tables")
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, f"its metadata is inconsistent: {exc}") from None


def is_phism_head(path: Path) -> bool:
    """True for a head file phism wrote (what --overwrite may replace)."""
    try:
        read_head(path)
    except PhismError:
        return False
    return True
