# acquire: render a stand-in dataset (or read one placed on disk) and write its manifest.


rule acquire:
    output:
        "results/{dataset}/manifest.csv",
    log:
        "logs/{dataset}/acquire.log",
    benchmark:
        "results/benchmarks/{dataset}/acquire.tsv"
    params:
        cfg=acquire_cfg,
        code=stage_fingerprint("_acquire"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "i3d data acquire --dataset {wildcards.dataset} --source {params.cfg[source]} --root {params.cfg[root]}"
        " --manifest {output} --classes {params.cfg[standin][classes]}"
        " --clips-per-class {params.cfg[standin][clips_per_class]} --seed {params.cfg[standin][seed]}"
        " --render-short-side {params.cfg[standin][short_side][0]} {params.cfg[standin][short_side][1]}"
        " --seconds {params.cfg[standin][seconds][0]} {params.cfg[standin][seconds][1]}"
        " --quiet > {log} 2>&1"
