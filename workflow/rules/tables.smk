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


# Tables 3-5 and the index (rules/transfer.smk makes their Fixed and Full-FT inputs): snakemake results/tables.md

def predictions(ds, split, arch, stream, init, protocol="original"):
    folder = "" if protocol == "original" else f"{protocol}/"
    return f"results/{ds}/split{split}/{folder}{arch}-{stream}-{init}/predictions.h5"


def transfer_predictions(model, protocol):
    """The predictions file of a transfer_models() entry under ``protocol`` (fixed, fullft); released weights' in
    released/ beside the trained Kinetics models'."""
    return predictions(*model, f"{protocol}/released" if RELEASED else protocol)


def table3_inputs():
    """Kinetics models per architecture and stream: the configured init and every transferred one; with released
    weights, those scored on Kinetics, when it is the real one (the stand-in's classes are not Kinetics')."""
    if "kinetics400" not in config["datasets"]:
        return []
    if RELEASED:
        return [predictions("kinetics400", 1, RELEASED_ARCH, stream, released_init(stream), "released")
                for stream in released_streams() if data_kind("kinetics400") == "real"]
    return [predictions("kinetics400", 1, arch, stream, init)
            for arch in config["datasets"]["kinetics400"]["architectures"]
            for stream in get_spec(arch).model_streams(config["models"]["streams"])
            for init in sorted({arch_settings(arch)["init"], *kinetics_inits(arch)})]


def table4_inputs():
    """Split 1 of UCF-101 and HMDB-51: Original (Table 2's models and I3D's from the other start), Fixed and
    Full-FT."""
    original = [predictions(*model) for model in trained_models() if model[0] in TRANSFER_DATASETS and model[1] == 1]
    original += [predictions(*model) for model in other_half_originals()]
    return original + [transfer_predictions(model, protocol) for model in transfer_models() if model[1] == 1
                       for protocol in ("fixed", "fullft")]


def table5_inputs():
    """Full-FT I3D on every configured split (the table averages the splits it has)."""
    return [transfer_predictions(model, "fullft") for model in transfer_models() if model[2] == "i3d"]


rule table345:
    input:
        lambda wc: {"table3": table3_inputs, "table4": table4_inputs, "table5": table5_inputs}[wc.table](),
    output:
        csv="results/{table}.csv",
        md="results/{table}.md",
    log:
        "logs/{table}.log",
    wildcard_constraints:
        table="table[345]",
    params:
        released=" ".join(["--released", *released_streams()]) if RELEASED else "",
        code=stage_fingerprint("_table345"),
    threads: 1
    shell:
        "i3d tables {wildcards.table} --out results/{wildcards.table} {input} {params.released} > {log} 2>&1"


rule tables:
    input:
        expand("results/table{n}.md", n=[1, 2, 3, 4, 5]),
    output:
        "results/tables.md",
    log:
        "logs/tables.log",
    params:
        code=stage_fingerprint("_tables_index"),
    threads: 1
    shell:
        "i3d tables index --out {output} " + " ".join(f"table{n}=results/table{n}.md" for n in range(1, 6))
        + " > {log} 2>&1"
