# train: one job per (dataset, split, architecture, stream, initialisation); reads shards only.
# stream is rgb, flow, or rgb+flow for an architecture trained on both at once (fused); init imagenet
# also reads torchvision's GoogLeNet checkpoint (rule fetch_imagenet). Released Kinetics weights are imported here
# (rule import_released; transfer.kinetics_source: released).
import shlex


localrules:
    fetch_imagenet,


rule fetch_imagenet:
    """Download (resumable, checksum-checked) or copy torchvision's ImageNet GoogLeNet checkpoint. A local rule:
    cluster nodes often have no network. Without network it fails saying how to place the file by hand."""
    input:
        config["imagenet"]["path"] or [],
    output:
        TORCHVISION_WEIGHTS,
    log:
        "logs/fetch_imagenet.log",
    params:
        url=config["imagenet"]["url"],
        sha256=config["imagenet"]["sha256"],
        source=f"--source {config['imagenet']['path']}" if config["imagenet"]["path"] else "",
    threads: 1
    shell:
        "i3d weights fetch-imagenet --url {params.url} --sha256 {params.sha256} {params.source} {output}"
        " > {log} 2>&1"


def released_weights(wc):
    """Input function of import_released: the stream's released files, for the configured pre-training only (the
    {init} in the path is what the tables compare with the paper)."""
    if not RELEASED or wc.stream not in released_streams() or wc.init != released_init(wc.stream):
        raise WorkflowError(f"no released {wc.stream} weights pre-trained '{wc.init}' are configured "
                            "(transfer.kinetics_source, transfer.released)")
    return released_files(wc.stream)


rule import_released:
    """A stream's released weights as a model.pt in train's layout, with the label map's class names."""
    input:
        weights=released_weights,
        labels=LABEL_MAP,
    output:
        "results/kinetics400/released/i3d-{stream}-{init}/model.pt",
    log:
        "logs/kinetics400/released/i3d-{stream}-{init}/import.log",
    wildcard_constraints:
        stream="rgb|flow",
    params:
        format=lambda wc: config["transfer"]["released"][wc.stream]["format"],
        src=lambda wc: shlex.quote(released_src(wc.stream)),
        sha256=lambda wc: "".join(f" --sha256 {shlex.quote(f'{name}={digest}')}"
                                  for name, digest in released_sha256(wc.stream).items()),
        code=stage_fingerprint("_weights_import"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "i3d weights import --format {params.format} --stream {wildcards.stream} --labels {input.labels}"
        "{params.sha256} {params.src} {output} > {log} 2>&1"


rule imagenet_standin:
    """The ImageNet stand-in (imagenet.standin: true): a 2D Inception-V1 pre-trained on stand-in stills whose
    classes are appearance (shape x texture), written in torchvision GoogLeNet's layout, with a JSON beside it."""
    output:
        weights=STANDIN_WEIGHTS,
        about=STANDIN_WEIGHTS.replace(".pth", ".json"),
    log:
        "logs/imagenet_standin.log",
    benchmark:
        "results/benchmarks/imagenet_standin.tsv"
    params:
        code=stage_fingerprint("_weights_imagenet_standin"),
    threads: 1  # one thread: measured faster than two on a 2-core machine running other jobs
    shell:
        "i3d weights imagenet-standin --out {output.weights} --threads {threads} > {log} 2>&1"


def train_args(wc):
    t = config["datasets"][wc.dataset]["train"]
    return (
        f"--epochs {arch_epochs(config, wc.dataset, wc.arch)} --batch-size {t['batch_size']} --lr {t['lr']}"
        f" --momentum {t['momentum']} --weight-decay {t['weight_decay']}"
        f" --warmup-epochs {arch_warmup_epochs(config, wc.dataset, wc.arch):g}"
        f" --frames-scale {arch_settings(wc.arch)['frames_scale']}"
        f" --crop-size {t['crop_size']} --dropout {t['dropout']} --bn-momentum {t['bn_momentum']}"
        f" --workers {t['workers']} --seed {t['seed']} --val-fraction {t['val_fraction']}"
        f" --schedule {t['schedule']} --plateau-patience {t['plateau_patience']} --precision {t['precision']}"
        + (f" --lr-reference-batch {t['lr_reference_batch']}" if t["lr_reference_batch"] else "")
        + (" --sync-bn" if t["sync_bn"] else "") + (" --compile" if t["compile"] else "")
    )


def gpus_per_model(wc):
    return config["datasets"][wc.dataset]["train"]["gpus_per_model"]


def train_launcher(wc):
    """`i3d train` (which leases its GPU itself), or, when a model trains data-parallel (train.gpus_per_model),
    torchrun with one process per GPU, started holding a lease of that many GPUs (i3d/gpu_lease.py)."""
    n = gpus_per_model(wc)
    if n == 1:
        return "i3d train"
    return (f"python3 -m i3d.gpu_lease --gpus {n} --device {config['device']} --"
            f" torchrun --standalone --nproc-per-node {n} -m i3d.cli train")


def init_args(wc):
    return f"--init {wc.init}" + (f" --imagenet {IMAGENET_WEIGHTS}" if wc.init == "imagenet" else "")


rule train:
    input:
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
        imagenet=imagenet_weights,
    output:
        model="results/{dataset}/split{split}/{arch}-{stream}-{init}/model.pt",
        metrics="results/{dataset}/split{split}/{arch}-{stream}-{init}/metrics.csv",
    log:
        "logs/{dataset}/split{split}/{arch}-{stream}-{init}/train.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/{arch}-{stream}-{init}/train.tsv"
    params:
        args=train_args,
        init=init_args,
        launch=train_launcher,
        device=config["device"],
        code=lambda wc: stage_fingerprint("_train", wc.arch),
    threads: config["threads"]
    resources:
        mem_mb=16000,
        runtime=24 * 60,
        gpu=lambda wc: GPU_JOBS * gpus_per_model(wc),
        cpus_per_task=lambda wc, threads: threads * gpus_per_model(wc),  # SLURM: --threads is per process
        nodes=1,  # SLURM: --nodes; torchrun --standalone starts every process on the node it runs on
    shell:
        "{params.launch} --manifest {input.manifest} --shards {input.shards} --split {wildcards.split}"
        " --out $(dirname {output.model}) --arch {wildcards.arch} --stream {wildcards.stream} {params.args}"
        " {params.init}"
        " --device {params.device} --threads {threads} > {log} 2>&1"
