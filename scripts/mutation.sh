#!/usr/bin/env bash
# Mutation check of the session core and the MP3 joins: how many small changes to the code the
# fast tests notice. Not part of CI; a run takes a few minutes on two cores.
#
#   .venv/bin/pip install 'mutmut==3.8.1'   # into the project's .venv only: not a dependency
#   scripts/mutation.sh [MODULE.py ...]      # default: words, steps, plan, fit and sound/mp3
#   TESTS="tests/test_words.py tests/test_compose.py" scripts/mutation.sh session/steps.py
#   REV=<commit> scripts/mutation.sh ...     # the same check of an older tree (a before/after)
#
# It works on a copy of the committed tree (mutmut writes its mutants beside the code), with
# the fast tests of those modules as the runner, and prints the score and the survivors. The
# composer's own tests (tests/test_compose.py, test_guidance.py) reach these modules too, but run
# for many seconds a mutant and hang on mutants that loop: give them in TESTS with time to spare.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
    modules=(session/words.py session/steps.py session/plan.py session/fit.py sound/segments.py)
fi
work="${MUTATION_DIR:-$(mktemp -d -t voiceguide-mutation.XXXXXX)}"
mkdir -p "$work"
git -C "$repo" archive "${REV:-HEAD}" | tar -x -C "$work"
only=""
for m in "${modules[@]}"; do only="$only\"voiceguide/$m\", "; done
# the runner: fast tests only (each mutant runs those of them that reach the mutated function)
tests="${TESTS:-tests/test_words.py tests/test_limits.py tests/test_mp3.py}"
selection=""
for t in $tests; do [ -e "$work/$t" ] && selection="$selection\"$t\", "; done
cat >> "$work/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["voiceguide"]
only_mutate = [${only%, }]
also_copy = ["catalog"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
pytest_add_cli_args_test_selection = [${selection%, }]
TOML
cd "$work"
echo "mutating ${modules[*]} in $work"
# mutmut imports the mutated package from ./mutants, which must exist before it starts, or
# Python passes over it for good and the editable install's unmutated package is tested instead
rm -rf mutants && mkdir mutants
PYTHONPATH="$work/mutants" "$venv/bin/mutmut" run --max-children "${JOBS:-2}" || true
"$venv/bin/mutmut" export-cicd-stats >/dev/null 2>&1 || true
"$venv/bin/mutmut" results || true
if [ -f mutants/mutmut-cicd-stats.json ]; then
    cat mutants/mutmut-cicd-stats.json
    echo
fi
