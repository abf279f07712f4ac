"""Workflow configuration: validated against ``i3d/schemas/config.schema.yaml`` at start-up.

Validation fills in the schema's defaults and fails with a message that names the offending key and the
allowed values, before any job runs. Imported by the Snakefile, so it must stay light (no torch): the
architecture names and what they support come from the registry, which imports no torch itself, so a
new registry entry is accepted here without editing the schema.

The schema ships inside the package (an installed, non-editable ``i3d`` validates too); the registry fills in
what it defines: the architecture names and the frame rate its samplings refer to. Checks the schema cannot
express (crops against the frame size) follow it.

After validation every dataset has its resolved ``train`` and ``test`` settings and ``architectures``, and
``models.per_arch`` has an entry for every architecture in use with its resolved ``init``,
``frames_scale`` and ``epochs_scale`` (see ``arch_epochs`` and ``arch_warmup_epochs``).
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from i3d.models.registry import FPS, get_spec, list_architectures

OVERRIDABLE = ("train", "test")
"""Sections a dataset may override key by key (``datasets.<name>.train``, ``datasets.<name>.test``)."""


class ConfigError(ValueError):
    """A configuration that does not match the schema."""


def _with_defaults(cls: type) -> type:
    """A validator class that also writes each property's ``default`` into the instance."""
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema's signature
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    allowed = error.schema.get("enum") if isinstance(error.schema, dict) else None
    hint = f" Allowed values: {', '.join(map(str, allowed))}." if error.validator == "enum" and allowed else ""
    if error.validator == "pattern":
        hint = f" Allowed values: {error.schema.get('description', error.schema['pattern'])}."
    if error.validator == "additionalProperties" and isinstance(error.schema, dict):
        hint = f" Allowed keys: {', '.join(sorted(error.schema.get('properties', {})))}."
    return f"config key '{key}': {error.message}.{hint}"


def load_schema() -> dict[str, Any]:
    """The config schema, with the registry's architecture names and frame rate as the allowed values."""
    schema = yaml.safe_load(resources.files("i3d").joinpath("schemas", "config.schema.yaml").read_text())
    schema["definitions"]["architecture"]["enum"] = list_architectures()
    schema["properties"]["frames"]["properties"]["fps"]["enum"] = [int(FPS) if FPS.is_integer() else FPS]
    return schema


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it; raise :class:`ConfigError` if invalid."""
    schema = load_schema()
    overrides = _split_overrides(config)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    misplaced = _kinetics_only_keys(config)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    for (name, section), override in overrides.items():
        override_schema = {**schema["definitions"][section], "definitions": schema["definitions"]}
        for e in jsonschema.Draft202012Validator(override_schema).iter_errors(override):
            e.path.extendleft(["datasets", name, section][::-1])
            errors.append(e)
    if errors or misplaced:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join([_describe(e) for e in errors] + misplaced))
    _keep_only(config)
    for name, dataset in config["datasets"].items():
        dataset.setdefault("root", f"resources/{name}")
        for section in OVERRIDABLE:
            dataset[section] = {**config[section], **overrides.get((name, section), {})}
        dataset.setdefault("architectures", list(config["models"]["architectures"]))
    _check_crops(config, overrides)
    _check_plateau(config)
    _check_released(config["transfer"], config["models"]["streams"])
    _resolve_architectures(config["models"], {a for d in config["datasets"].values() for a in d["architectures"]})
    return config


def _keep_only(config: dict[str, Any]) -> None:
    """Drop the datasets that ``only`` leaves out. ``--configfile`` merges with the default config, so a file that
    configures one real dataset still has the stand-ins beside it; ``only`` is how a user runs one (or some)."""
    only = config.get("only")
    if only is None:
        return
    names = only.split(",") if isinstance(only, str) else list(only)
    missing = [n for n in names if n not in config["datasets"]]
    if missing:
        raise ConfigError(f"invalid configuration:\n  config key 'only': {', '.join(missing)} not configured under "
                          f"datasets. Allowed values: {', '.join(config['datasets'])}.")
    config["datasets"] = {n: d for n, d in config["datasets"].items() if n in names}


KINETICS_ONLY_DOWNLOAD_KEYS = ("route", "parts", "youtube", "test_set")


def _kinetics_only_keys(config: dict[str, Any]) -> list[str]:
    """Errors for Kinetics-only download keys set on another dataset (they would be silently ignored); a value
    equal to the schema's default (a config validated before) is not a setting."""
    datasets = config.get("datasets") if isinstance(config.get("datasets"), dict) else {}
    defaults = _filled_defaults(load_schema()["definitions"]["download"])
    return [f"config key 'datasets.{name}.download.{key}': applies to kinetics400 only; remove it"
            for name, dataset in datasets.items()
            if isinstance(dataset, dict) and not name.startswith("kinetics") and isinstance(dataset.get("download"), dict)
            for key in KINETICS_ONLY_DOWNLOAD_KEYS
            if key in dataset["download"] and dataset["download"][key] not in ({}, defaults[key])]


def _filled_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema's properties with their defaults, nested objects filled in as validation fills them."""
    return {name: (_filled_defaults(sub) if sub.get("type") == "object" and "properties" in sub
                   else copy.deepcopy(sub.get("default")))
            for name, sub in schema["properties"].items()}


def _check_crops(config: dict[str, Any], overrides: dict[tuple[str, str], dict]) -> None:
    """ConfigError for a train or test crop larger than the frames (``frames.short_side``), which would
    otherwise fail in the first training or prediction job; names the key that set it."""
    side = config["frames"]["short_side"]
    keys = {
        f"datasets.{name}.{section}.crop_size" if "crop_size" in overrides.get((name, section), {})
        else f"{section}.crop_size": dataset[section]["crop_size"]
        for name, dataset in config["datasets"].items()
        for section in OVERRIDABLE
    }
    errors = [f"config key '{key}': crop {crop} exceeds frames.short_side {side}; allowed: at most {side} "
              f"(or raise frames.short_side)" for key, crop in keys.items() if crop > side]
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))


def _check_plateau(config: dict[str, Any]) -> None:
    """ConfigError for ``schedule: plateau`` without a validation set: it cuts the rate on validation top-1."""
    bad = [name for name, d in config["datasets"].items()
           if d["train"]["schedule"] == "plateau" and not d["train"]["val_fraction"] > 0]
    if bad:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(
            f"config key 'datasets.{n}.train.schedule': plateau cuts the rate when validation top-1 stops "
            "improving, so it needs train.val_fraction > 0" for n in bad))


RELEASED_STREAMS = ("rgb", "flow")
"""The streams released I3D weights come in (``transfer.released.<stream>``)."""

TF_CHECKPOINT_FILES = (".index", ".data-00000-of-00001")
"""The files a TF checkpoint prefix (.../model.ckpt) stands for: its suffixes."""


def released_file_names(weights: dict[str, Any]) -> list[str]:
    """The names of the files one stream's released weights (``transfer.released.<stream>``) are read from: the
    file its path or URL names, or for a TF checkpoint prefix its index and data files. What ``sha256`` keys."""
    name = Path(weights.get("path") or weights["url"].split("?")[0]).name
    return [name + suffix for suffix in TF_CHECKPOINT_FILES] if weights["format"] == "tf" else [name]


def _check_released(transfer: dict[str, Any], streams: list[str]) -> None:
    """ConfigError for released weights the workflow could not use as given: ``kinetics_source: released`` with no
    stream's weights, a stream's weights with both or neither of ``path`` and ``url``, a stream that
    ``models.streams`` leaves out (it would be ignored silently), or a checksum of a file the weights do not have
    (it would never be checked)."""
    released = transfer["released"]
    given = [s for s in RELEASED_STREAMS if released[s] is not None]
    errors = []
    if transfer["kinetics_source"] == "released" and not given:
        errors.append("config key 'transfer.released': kinetics_source released needs the weights of at least one "
                      "stream; allowed: transfer.released.rgb and/or transfer.released.flow, each with a path or "
                      "a url, its format and init")
    for s in given:
        sources = [k for k in ("path", "url") if k in released[s]]
        if len(sources) != 1:
            errors.append(f"config key 'transfer.released.{s}': give exactly one of path and url "
                          f"(got {' and '.join(sources) or 'neither'})")
        if s not in streams:
            errors.append(f"config key 'transfer.released.{s}': {s} is not in models.streams "
                          f"({', '.join(streams)}); add it there or set transfer.released.{s}: null")
        if len(sources) == 1:
            names = released_file_names(released[s])
            errors += [f"config key 'transfer.released.{s}.sha256': {name!r} is not a file of these weights; "
                       f"allowed: {', '.join(names)}" for name in released[s].get("sha256", {}) if name not in names]
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))


def _resolve_architectures(models: dict[str, Any], used: set[str]) -> None:
    """Fill ``models.per_arch`` for every architecture in use; ConfigError where an init is not possible."""
    errors = []
    for arch in sorted(used, key=list_architectures().index):
        entry = models["per_arch"].setdefault(arch, {})
        entry.setdefault("init", models["init"])
        entry.setdefault("frames_scale", models["frames_scale"])
        entry.setdefault("epochs_scale", models["epochs_scale"])
        if entry["init"] == "imagenet" and not get_spec(arch).imagenet_init:
            errors.append(f"config key 'models.init': {arch} has no ImageNet initialisation (the paper trains the "
                          f"{get_spec(arch).paper_name} from scratch); set models.per_arch.{arch}.init: scratch "
                          f"(as config/paper.yaml does) or leave {arch} out.")
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))


def arch_epochs(config: dict[str, Any], dataset: str, arch: str) -> int:
    """Epochs ``arch`` trains for on ``dataset``: the dataset's ``train.epochs`` times the architecture's
    ``epochs_scale``, rounded, at least 1 (a validated config)."""
    scale = config["models"]["per_arch"][arch]["epochs_scale"]
    return max(1, round(config["datasets"][dataset]["train"]["epochs"] * scale))


def arch_warmup_epochs(config: dict[str, Any], dataset: str, arch: str) -> float:
    """Warm-up epochs of that schedule: the dataset's ``train.warmup_epochs`` scaled like its epochs."""
    return config["datasets"][dataset]["train"]["warmup_epochs"] * config["models"]["per_arch"][arch]["epochs_scale"]


def _split_overrides(config: dict[str, Any]) -> dict[tuple[str, str], dict]:
    """Take the per-dataset overrides (keyed by dataset and section) out, so that default-filling leaves them
    partial."""
    datasets = config.get("datasets")
    if not isinstance(datasets, dict):
        return {}
    return {(name, section): ds.pop(section) for name, ds in datasets.items() if isinstance(ds, dict)
            for section in OVERRIDABLE if section in ds}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    return validate(yaml.safe_load(Path(path).read_text()) or {})
