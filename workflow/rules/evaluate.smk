# predict: center-crop test predictions in each architecture's test footprint (I3D: the whole clip,
# logits averaged over time; others: their Table 1 test samples, averaged).


def output_protocol(output):
    """predict serves Original models and (as predict_fullft) fine-tuned ones: which, by the output's folder."""
    return "fullft" if "/fullft/" in output[0] else "original"


rule predict:
    input:
        model="results/{dataset}/split{split}/{arch}-{stream}-{init}/model.pt",
        manifest="results/{dataset}/manifest.csv",
        shards=stream_shards,
    output:
        "results/{dataset}/split{split}/{arch}-{stream}-{init}/predictions.h5",
    log:
        "logs/{dataset}/split{split}/{arch}-{stream}-{init}/predict.log",
    benchmark:
        "results/benchmarks/{dataset}/split{split}/{arch}-{stream}-{init}/predict.tsv"
    params:
        crop=lambda wc: config["datasets"][wc.dataset]["test"]["crop_size"],
        data=lambda wc, output: seen_data(wc, output_protocol(output)),
        protocol=lambda wc, output: output_protocol(output),
        imagenet_source=IMAGENET_SOURCE,
        device=config["device"],
        code=lambda wc: stage_fingerprint("_predict", wc.arch),
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU_JOBS,
        cpus_per_task=lambda wc, threads: threads,  # SLURM: --cpus-per-task, whatever default-resources say
    shell:
        "i3d predict --model {input.model} --manifest {input.manifest} --shards {input.shards}"
        " --split {wildcards.split} --out {output} --crop-size {params.crop} --dataset {wildcards.dataset}"
        " --init {wildcards.init} --data {params.data} --protocol {params.protocol}"
        " --imagenet-source {params.imagenet_source} --device {params.device} --threads {threads}"
        " > {log} 2>&1"
