# transfer (Tables 3-5): the Kinetics models reused on UCF-101 and HMDB-51, as the paper's Table 4 does.
#   Fixed:   features of every clip from the frozen Kinetics model -> a softmax probe (L2 by cross-validation on
#            the train split) -> test predictions;
#   Full-FT: every layer from the Kinetics weights and a new classifier, trained on the dataset -> predict.
# {init} in these paths is the Kinetics model's initialisation (scratch: Kinetics only; imagenet: ImageNet, then
# Kinetics); Original is Table 2's models, reused. With transfer.kinetics_source released, released weights stand
# for the Kinetics models (the end of this file).

TRANSFER_DATASETS = [d for d in ("ucf101", "hmdb51") if d in config["datasets"]]


def kinetics_inits(arch):
    """The Kinetics models of ``arch`` that are transferred: transfer.kinetics_inits, without imagenet for an
    architecture that has no ImageNet start (the 3D-ConvNet)."""
    return [i for i in config["transfer"]["kinetics_inits"] if i == "scratch" or get_spec(arch).imagenet_init]


def transfer_models():
    """(dataset, split, arch, stream, kinetics init) of every Fixed and Full-FT model: each architecture trained
    on Kinetics and on the dataset; with released weights, I3D (the only one released) on each stream that has
    them, from their pre-training."""
    if RELEASED:
        return [(ds, split, RELEASED_ARCH, stream, released_init(stream))
                for ds in TRANSFER_DATASETS if RELEASED_ARCH in config["datasets"][ds]["architectures"]
                for split in config["datasets"][ds]["splits"] for stream in released_streams()]
    if "kinetics400" not in config["datasets"]:
        return []
    on_kinetics = config["datasets"]["kinetics400"]["architectures"]
    return [(ds, split, arch, stream, init)
            for ds in TRANSFER_DATASETS for split in config["datasets"][ds]["splits"]
            for arch in config["datasets"][ds]["architectures"] if arch in on_kinetics
            for stream in get_spec(arch).model_streams(config["models"]["streams"])
            for init in kinetics_inits(arch)]


BOTH_ORIGINAL_HALVES = "i3d"
"""The architecture whose Original models (trained on UCF-101 / HMDB-51 alone) Table 4 gets from both starts: the
paper's Original column is "with ImageNet / without ImageNet". I3D only, the paper's subject, so that the other
architectures' extra trainings do not push results/tables.md past its CPU budget (the caption says so)."""


def other_half_originals():
    """(dataset, 1, arch, stream, init) of Table 4's Original models that Table 2 does not train: split 1 of
    UCF-101 and HMDB-51, BOTH_ORIGINAL_HALVES, from each start in transfer.kinetics_inits but models.init."""
    arch = BOTH_ORIGINAL_HALVES
    return [(ds, 1, arch, stream, init)
            for ds in TRANSFER_DATASETS
            if 1 in config["datasets"][ds]["splits"] and arch in config["datasets"][ds]["architectures"]
            for stream in get_spec(arch).model_streams(config["models"]["streams"])
            for init in kinetics_inits(arch) if init != arch_settings(arch)["init"]]


def kinetics_model(wc):
    return f"results/kinetics400/split1/{wc.arch}-{wc.stream}-{wc.init}/model.pt"


rule features:
    input:
        model=kinetics_model,
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/features/{arch}-{stream}-{init}.h5",
    log:
        "logs/{dataset}/features/{arch}-{stream}-{init}.log",
    benchmark:
        "results/benchmarks/{dataset}/features/{arch}-{stream}-{init}.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",
    params:
        crop=lambda wc: config["datasets"][wc.dataset]["test"]["crop_size"],
        device=config["device"],
        code=lambda wc: stage_fingerprint("_features", wc.arch),
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU_JOBS,
        cpus_per_task=lambda wc, threads: threads,  # SLURM: --cpus-per-task, whatever default-resources say
    shell:
        "i3d features --model {input.model} --manifest {input.manifest} --shards {input.shards} --out {output}"
        " --crop-size {params.crop} --device {params.device} --threads {threads} > {log} 2>&1"


rule probe:
    input:
        features="results/{dataset}/features/{arch}-{stream}-{init}.h5",
        manifest="results/{dataset}/manifest.csv",
    output:
        predictions="results/{dataset}/split{split}/fixed/{arch}-{stream}-{init}/predictions.h5",
        cv="results/{dataset}/split{split}/fixed/{arch}-{stream}-{init}/predictions.cv.csv",
    log:
        "logs/{dataset}/split{split}/fixed/{arch}-{stream}-{init}/probe.log",
    wildcard_constraints:
        dataset="ucf101|hmdb51",
    params:
        l2=" ".join(map(str, config["transfer"]["probe"]["l2"])),
        folds=config["transfer"]["probe"]["folds"],
        data=lambda wc: seen_data(wc, "fixed"),
        imagenet_source=IMAGENET_SOURCE,
        code=stage_fingerprint("_probe"),
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        cpus_per_task=lambda wc, threads: threads,
    shell:
        "i3d probe --features {input.features} --manifest {input.manifest} --split {wildcards.split}"
        " --out {output.predictions} --l2 {params.l2} --folds {params.folds} --dataset {wildcards.dataset}"
        " --init {wildcards.init} --data {params.data} --imagenet-source {params.imagenet_source}"
        " --threads {threads} > {log} 2>&1"


def finetune_args(wc):
    """The dataset's training settings with transfer.finetune's schedule (epochs scaled as training's are)."""
    f = config["transfer"]["finetune"]
    scale = arch_settings(wc.arch)["epochs_scale"]
    return (train_args(wc) + f" --epochs {max(1, round(f['epochs'] * scale))} --lr {f['lr']}"
            f" --body-lr-scale {f['body_lr_scale']}")  # later options win over train_args' own


use rule train as finetune with:
    input:
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
        source=kinetics_model,
    output:
        model="results/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/model.pt",
        metrics="results/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/metrics.csv",
    log:
        "logs/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/train.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/train.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",
    params:
        args=finetune_args,
        init=lambda wc: f"--init kinetics --from-model {kinetics_model(wc)}",


use rule predict as predict_fullft with:
    input:
        model="results/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/model.pt",
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/predictions.h5",
    log:
        "logs/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/predict.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/fullft/{arch}-{stream}-{init}/predict.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",


# Released weights stand for the Kinetics models (transfer.kinetics_source: released; helpers in common.smk,
# fetched by rules/download.smk, imported by rules/train.smk): Fixed, Full-FT, and on a real Kinetics Table 3's
# scores, in released/ folders beside the trained models' ones, so that switching the source overwrites nothing.

def released_data(wc):
    """The --data of a released model's outputs: its Kinetics and ImageNet were real, so the dataset's kind (their
    --imagenet-source: released, the ImageNet start inside the released weights)."""
    return data_kind(wc.dataset)


use rule features as features_released with:
    input:
        model=released_model,
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/features/released/{arch}-{stream}-{init}.h5",
    log:
        "logs/{dataset}/features/released/{arch}-{stream}-{init}.log",
    benchmark:
        "results/benchmarks/{dataset}/features/released/{arch}-{stream}-{init}.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",
        arch=RELEASED_ARCH,


use rule probe as probe_released with:
    input:
        features="results/{dataset}/features/released/{arch}-{stream}-{init}.h5",
        manifest="results/{dataset}/manifest.csv",
    output:
        predictions="results/{dataset}/split{split}/fixed/released/{arch}-{stream}-{init}/predictions.h5",
        cv="results/{dataset}/split{split}/fixed/released/{arch}-{stream}-{init}/predictions.cv.csv",
    log:
        "logs/{dataset}/split{split}/fixed/released/{arch}-{stream}-{init}/probe.log",
    wildcard_constraints:
        dataset="ucf101|hmdb51",
        arch=RELEASED_ARCH,
    params:
        data=released_data,
        imagenet_source="released",


use rule finetune as finetune_released with:
    input:
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
        source=released_model,
    output:
        model="results/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/model.pt",
        metrics="results/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/metrics.csv",
    log:
        "logs/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/train.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/train.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",
        arch=RELEASED_ARCH,
    params:
        init=lambda wc: f"--init kinetics --from-model {released_model(wc)}",


use rule predict_fullft as predict_fullft_released with:
    input:
        model="results/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/model.pt",
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/predictions.h5",
    log:
        "logs/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/predict.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/fullft/released/{arch}-{stream}-{init}/predict.tsv"
    wildcard_constraints:
        dataset="ucf101|hmdb51",
        arch=RELEASED_ARCH,
    params:
        data=released_data,
        imagenet_source="released",


use rule predict as predict_released with:
    input:
        model=released_model,
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/split{split}/released/{arch}-{stream}-{init}/predictions.h5",
    log:
        "logs/{dataset}/split{split}/released/{arch}-{stream}-{init}/predict.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/released/{arch}-{stream}-{init}/predict.tsv"
    wildcard_constraints:
        dataset="kinetics400",
        arch=RELEASED_ARCH,
    params:
        data=released_data,
        imagenet_source="released",
