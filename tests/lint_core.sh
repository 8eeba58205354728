#!/usr/bin/env bash
# Lint every file of the compiled core (src/) and exit non-zero on any finding.
# cython-lint checks a .pyx or .pxd whole, but on a .pxi it runs only pycodestyle,
# and the core is mostly .pxi files: so each .pxi is also linted as a copy named
# .pyx. Then Cython compiles each .pyx (with every .pxi it includes and its .pxd)
# with its extra warnings (unused or maybe-uninitialized variables, unreachable
# code) made errors. Needs cython-lint and Cython; run from anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0

# Findings name the files as src/NAME (the .pxi copies too). cython-lint skips a file
# it cannot parse and still exits 0: that file was not linted, which is a finding.
lint() {
    local report
    report=$(cython-lint "$@") || status=1
    report=$(sed -E -e "s#$scratch/([^/:]+)\.pyx#src/\1.pxi#g" -e "s#$PWD/##g" <<<"$report")
    [[ -z $report ]] || echo "$report"
    if grep -q "^Skipping file" <<<"$report"; then
        status=1
    fi
}

lint src

pxis=(src/*.pxi)
if ((${#pxis[@]})); then
    for pxi in "${pxis[@]}"; do
        cp "$pxi" "$scratch/$(basename "$pxi" .pxi).pyx"
    done
    lint --no-pycodestyle "$scratch"  # pycodestyle already read them above
fi

for pyx in src/*.pyx; do
    # Named as setup.py builds it, so Cython finds its declarations (src/fastevlog.NAME.pxd).
    cython -Wextra -Werror -I src --module-name "fastevlog.$(basename "$pyx" .pyx)" \
        -o "$scratch/$(basename "$pyx" .pyx).c" "$pyx" || status=1
done

if ((status)); then
    echo "lint_core: findings above" >&2
fi
exit "$status"
