# Shared helpers: config validation, the package's code fingerprints, and the static shard lists.
import hashlib
import shutil
import subprocess
from pathlib import Path

from i3d.config import ConfigError, validate

try:
    validate(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

REPO = Path(workflow.basedir).parent


def _gpu_jobs():
    """1 when training will use CUDA, so that `--resources gpu=N` (default profile) limits GPU jobs.

    Decided without importing torch: device 'cpu' -> 0, 'cuda*' -> 1, 'auto' -> whether nvidia-smi lists a GPU."""
    device = config["device"]
    if device == "cpu":
        return 0
    if device.startswith("cuda") or shutil.which("nvidia-smi") is None:
        return int(device.startswith("cuda"))
    probe = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return int(probe.returncode == 0 and "GPU" in probe.stdout)


GPU_JOBS = _gpu_jobs()


def code_version(*parts):
    """Fingerprint of package sources, passed as a param so that editing the code of a stage reruns it
    (Snakemake does not track imported modules by itself)."""
    digest = hashlib.sha256()
    for part in parts:
        base = REPO / part
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def acquire_cfg(wildcards):
    """Only the keys that shape the raw data, so that e.g. a dataset's training overrides do not re-acquire it."""
    dataset = config["datasets"][wildcards.dataset]
    return {key: dataset[key] for key in ("source", "root", "standin")}


def shard_names(dataset):
    return [f"shard{k:03d}" for k in range(config["datasets"][dataset]["shards"])]


def stream_shards(wc):
    """Input function: every shard of the job's dataset and stream (static: the shard count is configured)."""
    return expand(f"results/{wc.dataset}/{wc.stream}/{{shard}}.h5", shard=shard_names(wc.dataset))


def data_kind(dataset):
    return "stand-in" if config["datasets"][dataset]["source"] == "synthetic" else "real"


def trained_models():
    """(dataset, split, arch, stream, init) of every model the config asks for."""
    models = config["models"]
    return [
        (ds, split, arch, stream, models["init"])
        for ds, dcfg in config["datasets"].items()
        for split in dcfg["splits"]
        for arch in models["architectures"]
        for stream in models["streams"]
    ]


def print_tables_location():
    for name in ("table1", "table2"):
        path = Path("results") / f"{name}.md"
        if path.exists():
            print(f"{name}: {path.resolve()}")


wildcard_constraints:
    dataset="|".join(["kinetics400", "ucf101", "hmdb51"]),
    shard=r"shard\d{3}",
    split=r"[123]",
    stream="rgb|flow",
