#!/usr/bin/env bash
# Times every stage of the pipeline from scratch (forced), one line per stage, then the total.
# Usage: bash benchmarks/pipeline_timing.sh [hydra overrides...]   (from the repository root)
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m llmops.config "$@" >/dev/null
total_ms=0
# dvc.yaml's stages in file order (an upstream stage always comes first there)
for stage in $(dvc stage list --name-only); do
  start=$(date +%s%N)
  dvc repro --force --single-item "$stage" >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  total_ms=$(( total_ms + ms ))
  printf '%-20s %6d.%01d s\n' "$stage" $((ms / 1000)) $(((ms % 1000) / 100))
done
printf '%-20s %6d.%01d s (%d min %d s)\n' total $((total_ms / 1000)) $(((total_ms % 1000) / 100)) \
  $((total_ms / 60000)) $(((total_ms / 1000) % 60))
