# tessera recipes. Install just with `cargo install just` (or your package manager);
# every recipe is a plain cargo or script command you can also run by hand.

# The seed's computation in the terminal UI (plain progress lines without a terminal).
run:
    cargo run --release

# The terminal UI, e.g. `just ui --scheduler threads`.
ui *FLAGS:
    cargo run --release -- ui {{FLAGS}}

# Run an expression, e.g. `just expr "ones((1000, 1000)).sum()"`.
expr EXPR *FLAGS:
    cargo run --release -- run {{FLAGS}} "{{EXPR}}"

# The Python package into the active Python (a release build): `import tessera.array as ta`.
python:
    pip install ./bindings/python

# Everything CI runs.
test:
    cargo test --workspace

# Lints as CI enforces them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Criterion benchmarks of kernels and scheduler overhead.
bench:
    cargo bench -p tessera-kernels -p tessera-runtime

# tessera against Dask on this machine: S1/S2/O1, then 16 everyday workloads with the machine's bounds (creates bench/.venv).
bench-vs-dask:
    bench/vs_dask.sh

# tessera against Dask on stored data: Zarr (written by zarr-python) and .npy reads,
# an anomaly and a rechunk written back (creates bench/.venv and target/bench-io).
bench-io:
    bench/io.sh

# A 1,000,000-task graph on a scheduler and two workers (scheduler RSS and wall time).
bench-million:
    bench/million_tasks.sh

# Launch to S2 on a one-node Slurm, and S2 on Slurm workers against a local cluster (root).
bench-slurm:
    cargo build --release -p tessera-cli
    bench/slurm_launch.sh target/release/tessera

# Worker-to-worker transfer: the QUIC ceiling and a workload that moves ~2 GB.
bench-transfer:
    bench/transfer.sh

# GPU against CPU on the seed's full-size S1 and S2 (200000 x 200000; needs a GPU with
# Vulkan). TESSERA_BIN=path uses a binary built elsewhere.
bench-gpu:
    bench/gpu.sh
