# flow: TV-L1 optical flow of each RGB shard, truncated to [-bound, bound] and quantized to uint8.


rule flow:
    input:
        "results/{dataset}/rgb/{shard}.h5",
    output:
        "results/{dataset}/flow/{shard}.h5",
    log:
        "logs/{dataset}/flow/{shard}.log",
    benchmark:
        "results/benchmarks/{dataset}/flow/{shard}.tsv"
    params:
        backend=config["flow"]["backend"],
        bound=config["flow"]["bound"],
        tvl1=" ".join(f"{k}={v}" for k, v in sorted(config["flow"]["tvl1"].items())),
        device=config["device"],
        code=stage_fingerprint("_flow"),
    threads: config["flow"]["workers"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=0 if config["flow"]["backend"] == "opencv" else GPU_JOBS,  # torch (or auto) runs on CUDA when present
        cpus_per_task=lambda wc, threads: threads,  # SLURM: --cpus-per-task, whatever default-resources say
    shell:
        "i3d flow --rgb {input} --out {output} --backend {params.backend} --bound {params.bound}"
        " --workers {threads} --device {params.device} --tvl1 {params.tvl1} > {log} 2>&1"
