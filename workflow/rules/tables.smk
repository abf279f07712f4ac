# tables: the paper's Tables 1 and 2, ours beside the paper's numbers.


rule table1:
    output:
        csv="results/table1.csv",
        md="results/table1.md",
    log:
        "logs/table1.log",
    params:
        archs=used_architectures(),
        scales=[f"{arch}={arch_settings(arch)['frames_scale']}" for arch in used_architectures()],
        crop=config["train"]["crop_size"],
        code=stage_fingerprint("_table1"),
    threads: 1
    shell:
        "i3d tables table1 --out results/table1 --architectures {params.archs} --frames-scale {params.scales}"
        " --crop-size {params.crop} > {log} 2>&1"


rule table2:
    input:
        predictions=[
            f"results/{ds}/split{split}/{arch}-{stream}-{init}/predictions.h5"
            for ds, split, arch, stream, init in trained_models()
        ],
        table1="results/table1.md",  # so that `snakemake results/table2.md` also gives Table 1
    output:
        csv="results/table2.csv",
        md="results/table2.md",
    log:
        "logs/table2.log",
    params:
        code=stage_fingerprint("_table2"),
    threads: 1
    shell:
        "i3d tables table2 --out results/table2 {input.predictions} > {log} 2>&1"
