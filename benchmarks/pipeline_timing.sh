#!/usr/bin/env bash
# Times every stage of the pipeline from scratch (forced), one line per stage, then the total; then
# the one-key fine-tune experiment a user runs next (`dvc exp run -S finetune.lr=1e-3`, or EXP_KEY),
# with the stages it reran. Afterwards the workspace holds that experiment's results
# (`dvc exp show` lists it beside the baseline; `git checkout params.yaml dvc.lock && dvc checkout` returns).
# Usage: bash benchmarks/pipeline_timing.sh [hydra overrides...]   (from the repository root)
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m llmops.config "$@" >/dev/null
clock() { printf '%-20s %6d.%01d s (%d min %d s)\n' "$1" $(($2 / 1000)) $((($2 % 1000) / 100)) $(($2 / 60000)) $((($2 / 1000) % 60)); }
total_ms=0
# dvc.yaml's stages in file order (an upstream stage always comes first there)
for stage in $(dvc stage list --name-only); do
  start=$(date +%s%N)
  dvc repro --force --single-item "$stage" >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  total_ms=$(( total_ms + ms ))
  printf '%-20s %6d.%01d s\n' "$stage" $((ms / 1000)) $(((ms % 1000) / 100))
done
clock total "$total_ms"

key="${EXP_KEY:-finetune.lr=1e-3}"
set -- "$@" "$key"
start=$(date +%s%N)
out=$(dvc exp run $(printf -- '-S %q ' "$@"))
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "reran: $(grep -o "Running stage '[^']*'" <<<"$out" | cut -d"'" -f2 | tr '\n' ' ')"
clock "exp run -S $key" "$ms"
printf 'ratio to the full run: %s\n' "$(python -c "print(f'{$ms / $total_ms:.2f}x')")"
