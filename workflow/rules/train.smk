# train: one job per (dataset, split, architecture, stream, initialisation); reads shards only.


def train_args(wc):
    t = config["datasets"][wc.dataset]["train"]
    return (
        f"--epochs {t['epochs']} --batch-size {t['batch_size']} --lr {t['lr']} --momentum {t['momentum']}"
        f" --weight-decay {t['weight_decay']} --warmup-epochs {t['warmup_epochs']} --num-frames {t['num_frames']}"
        f" --crop-size {t['crop_size']} --dropout {t['dropout']} --bn-momentum {t['bn_momentum']}"
        f" --workers {t['workers']} --seed {t['seed']}"
    )


rule train:
    input:
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        model="results/{dataset}/split{split}/{arch}-{stream}-{init}/model.pt",
        metrics="results/{dataset}/split{split}/{arch}-{stream}-{init}/metrics.csv",
    log:
        "logs/{dataset}/split{split}/{arch}-{stream}-{init}/train.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/{arch}-{stream}-{init}/train.tsv"
    params:
        args=train_args,
        device=config["device"],
        code=code_version("i3d/train", "i3d/models", "i3d/data/loader.py", "i3d/data/shards.py"),
    threads: config["threads"]
    resources:
        mem_mb=16000,
        runtime=24 * 60,
        gpu=GPU_JOBS,
    shell:
        "i3d train --manifest {input.manifest} --shards {input.shards} --split {wildcards.split}"
        " --out $(dirname {output.model}) --arch {wildcards.arch} --stream {wildcards.stream} {params.args}"
        " --device {params.device} --threads {threads} > {log} 2>&1"
