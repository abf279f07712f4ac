# Shared helpers: config validation, GPU declarations, the static shard lists (code fingerprints: i3d/stage_fingerprint.py).
import re
import sys
from pathlib import Path

REPO = Path(workflow.basedir).parent
sys.path.insert(0, str(REPO))  # this checkout's package: the one the rules' code fingerprints must read

from i3d.config import ConfigError, arch_epochs, arch_warmup_epochs, released_file_names, validate
from i3d.gpus import gpus_per_job, local_gpu_present
from i3d.models.registry import get_spec, list_architectures
from i3d.stage_fingerprint import stage_fingerprint

try:
    validate(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

GPU_JOBS = gpus_per_job(config, detect=local_gpu_present if workflow.is_main_process else lambda: False)
"""The gpu resource of CUDA-capable jobs (i3d/gpus.py). nvidia-smi runs at most once, in the main process; a
job's re-parse counts `gpus: auto` as no GPU, so a cluster run sets `gpus` (the SLURM profile: 1)."""


def acquire_cfg(wildcards):
    """Only the keys that shape the raw data, so that e.g. a dataset's training overrides do not re-acquire it."""
    dataset = config["datasets"][wildcards.dataset]
    keys = ("source", "root", "standin") + (() if dataset["source"] == "synthetic" else ("subset",))
    return {key: dataset[key] for key in keys}


def shard_names(dataset):
    return [f"shard{k:03d}" for k in range(config["datasets"][dataset]["shards"])]


def stream_shards(wc):
    """Input function: every shard of each input stream of the job's model (a joint rgb+flow model reads both;
    static: the shard count is configured)."""
    return expand("results/{dataset}/{stream}/{shard}.h5", dataset=wc.dataset,
                  stream=get_spec(wc.arch).inputs(wc.stream), shard=shard_names(wc.dataset))


def data_kind(dataset):
    return "stand-in" if config["datasets"][dataset]["source"] == "synthetic" else "real"


def seen_data(wc, protocol="original"):
    """The `--data` a predictions file records: stand-in when anything the model learnt from was one: the
    dataset, the Kinetics it was pre-trained on (protocols fixed and fullft), or the ImageNet start (init
    imagenet; for fixed and fullft the Kinetics model's)."""
    datasets = [wc.dataset] + (["kinetics400"] if protocol != "original" else [])
    standin_imagenet = wc.init == "imagenet" and config["imagenet"]["standin"]
    return "stand-in" if standin_imagenet or "stand-in" in map(data_kind, datasets) else "real"


def arch_settings(arch):
    """The architecture's resolved init, frames_scale and epochs_scale (config validation fills models.per_arch)."""
    return config["models"]["per_arch"][arch]


def used_architectures():
    """Every architecture some dataset trains, in the registry's (Table 1) order."""
    used = {arch for dcfg in config["datasets"].values() for arch in dcfg["architectures"]}
    return [arch for arch in list_architectures() if arch in used]


RELEASED = config["transfer"]["kinetics_source"] == "released"
"""Released Kinetics I3D weights stand for the Kinetics models (rules/transfer.smk): nothing trains on Kinetics."""


def trained_models():
    """(dataset, split, arch, stream, init) of every model the config asks for: per architecture, each
    configured stream it has, plus rgb+flow for a jointly fused one (ArchSpec.model_streams). None on Kinetics
    when released weights replace the Kinetics models (transfer.kinetics_source: released)."""
    return [
        (ds, split, arch, stream, arch_settings(arch)["init"])
        for ds, dcfg in config["datasets"].items() if not (RELEASED and ds == "kinetics400")
        for split in dcfg["splits"]
        for arch in dcfg["architectures"]
        for stream in get_spec(arch).model_streams(config["models"]["streams"])
    ]


TORCHVISION_WEIGHTS = f"resources/weights/{Path(config['imagenet']['url'].split('?')[0]).name}"
"""Where the fetch_imagenet rule puts torchvision's GoogLeNet checkpoint (or where to place it by hand)."""

STANDIN_WEIGHTS = "resources/weights/googlenet-standin.pth"
"""Where the imagenet_standin rule writes the ImageNet stand-in (imagenet.standin: true)."""

IMAGENET_WEIGHTS = STANDIN_WEIGHTS if config["imagenet"]["standin"] else TORCHVISION_WEIGHTS


IMAGENET_SOURCE = "stand-in" if config["imagenet"]["standin"] else "torchvision"
"""Where the ImageNet weights come from, recorded in every predictions file (the tables mark stand-in ones)."""


def imagenet_weights(wc):
    """Input function: the ImageNet checkpoint for models initialised from it."""
    return [IMAGENET_WEIGHTS] if wc.init == "imagenet" else []


def print_tables_location():
    for name in ("table1", "table2"):
        path = Path("results") / f"{name}.md"
        if path.exists():
            print(f"{name}: {path.resolve()}")


# Released Kinetics weights (transfer.kinetics_source: released): DeepMind's Kinetics-400 I3D per stream, fetched
# when given by URL (rules/download.smk) and imported (rules/train.smk), takes the Kinetics models' place in Fixed
# and Full-FT and, on a real Kinetics, is scored for Table 3 (rules/transfer.smk). {init} in its paths is the
# released model's pre-training (transfer.released.<stream>.init).

RELEASED_ARCH = "i3d"
"""The one architecture with released Kinetics weights."""

RELEASED_WEIGHTS = "resources/weights/released"
"""Where fetch_released puts what it downloads: <stream>/<file name>, labels/<file name>."""

def released_streams():
    """The streams with released weights (validation: each is in models.streams)."""
    return [s for s in ("rgb", "flow") if config["transfer"]["released"][s] is not None]


def released_init(stream):
    return config["transfer"]["released"][stream]["init"]


def _download_path(url, folder):
    return f"{RELEASED_WEIGHTS}/{folder}/{Path(url.split('?')[0]).name}"


def _is_url(text):
    return re.match(r"https?://", text) is not None


def released_src(stream):
    """What `i3d weights import` reads for ``stream``: the configured path, or where fetch_released puts the URL's
    file (for tf, the checkpoint prefix)."""
    weights = config["transfer"]["released"][stream]
    return weights["path"] if "path" in weights else _download_path(weights["url"], stream)


def released_files(stream):
    """The files behind released_src(stream): a TF checkpoint prefix stands for its index and data files."""
    src = Path(released_src(stream))
    return [str(src.with_name(name)) for name in released_file_names(config["transfer"]["released"][stream])]


LABEL_MAP = (_download_path(config["transfer"]["released"]["label_map"], "labels")
             if _is_url(config["transfer"]["released"]["label_map"]) else config["transfer"]["released"]["label_map"])
"""The released models' class names (DeepMind's label_map.txt), recorded in each imported model.pt."""


def released_downloads():
    """{local file: URL} of what fetch_released downloads: each stream given by URL, and a label map given so."""
    out = {}
    for stream in released_streams():
        weights = config["transfer"]["released"][stream]
        if "url" in weights:
            src = released_src(stream)
            out.update({local: weights["url"] + local[len(src):] for local in released_files(stream)})
    if _is_url(config["transfer"]["released"]["label_map"]):
        out[LABEL_MAP] = config["transfer"]["released"]["label_map"]
    return out


RELEASED_DOWNLOADS = released_downloads() if RELEASED else {}


def released_sha256(stream):
    """{file name: expected sha256} of the stream's released weights (transfer.released.<stream>.sha256)."""
    return config["transfer"]["released"][stream].get("sha256", {})


def expected_sha256(local):
    """The configured sha256 of a file fetch_released downloads, or None."""
    for stream in released_streams():
        if local in released_files(stream):
            return released_sha256(stream).get(Path(local).name)
    return None


def released_model(wc):
    return f"results/kinetics400/released/{RELEASED_ARCH}-{wc.stream}-{wc.init}/model.pt"


wildcard_constraints:
    dataset="|".join(config["datasets"]),  # the validated config's (the schema lists the package's datasets)
    shard=r"shard\d{3}",
    split=r"[123]",
    stream=r"rgb|flow|rgb\+flow",
    arch="|".join(list_architectures()),
    init="scratch|imagenet",
