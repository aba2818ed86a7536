#!/usr/bin/env bash
# Mutation check of the session core and the MP3 joins: how many small changes to the code the
# fast tests notice. Not part of CI; a run takes about ten minutes on two cores.
#
#   .venv/bin/pip install 'mutmut==3.8.1'   # into the project's .venv only: not a dependency
#   scripts/mutation.sh [MODULE.py ...]      # default: words, steps, plan, fit and sound/mp3
#
# It works on a copy of the committed tree (mutmut writes its mutants beside the code), with
# the fast tests of those modules as the runner, and prints the score and the survivors.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
    modules=(session/words.py session/steps.py session/plan.py session/fit.py sound/mp3.py)
fi
work="${MUTATION_DIR:-$(mktemp -d -t voiceguide-mutation.XXXXXX)}"
mkdir -p "$work"
git -C "$repo" archive HEAD | tar -x -C "$work"
only=""
for m in "${modules[@]}"; do only="$only\"voiceguide/$m\", "; done
cat >> "$work/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["voiceguide"]
only_mutate = [${only%, }]
also_copy = ["catalog"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
pytest_add_cli_args_test_selection = ["tests/test_compose.py", "tests/test_limits.py", "tests/test_export.py", "tests/test_adapt.py", "tests/test_mp3.py", "tests/test_frames.py"]
TOML
cd "$work"
echo "mutating ${modules[*]} in $work"
# mutmut imports the mutated package from ./mutants; the editable install must not shadow it
PYTHONPATH="$work/mutants" "$venv/bin/mutmut" run --max-children "${JOBS:-2}" || true
"$venv/bin/mutmut" export-cicd-stats >/dev/null 2>&1 || true
"$venv/bin/mutmut" results || true
if [ -f mutants/mutmut-cicd-stats.json ]; then
    cat mutants/mutmut-cicd-stats.json
    echo
fi
