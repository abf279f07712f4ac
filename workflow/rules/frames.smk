# frames: decode each shard's clips (trim, 25 fps, short side) into an HDF5 shard of JPEG frames.


rule frames:
    input:
        manifest="results/{dataset}/manifest.csv",
    output:
        shard="results/{dataset}/rgb/{shard}.h5",
        status="results/{dataset}/rgb/{shard}.csv",
    log:
        "logs/{dataset}/frames/{shard}.log",
    benchmark:
        "results/benchmarks/{dataset}/frames/{shard}.tsv"
    params:
        num_shards=lambda wc: config["datasets"][wc.dataset]["shards"],
        index=lambda wc: int(wc.shard[len("shard"):]),
        fps=config["frames"]["fps"],
        short_side=config["frames"]["short_side"],
        code=stage_fingerprint("_frames"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "i3d data frames --manifest {input.manifest} --shard {params.index} --num-shards {params.num_shards}"
        " --out {output.shard} --fps {params.fps} --short-side {params.short_side} > {log} 2>&1"
