#!/usr/bin/env bash
# Seeds the fuzz corpora (when empty) and runs every fuzz target for a
# while, one after another. For developers, by hand; CI does not run it.
#
#   fuzz/run-all.sh              # 60 seconds per target
#   fuzz/run-all.sh 900          # 15 minutes per target
#   fuzz/run-all.sh 60 sql       # some targets only
#   fuzz/run-all.sh --seed-only  # fill fuzz/corpus/ and stop
#
# Works from the repository root or from fuzz/. Needs cargo-fuzz
# (`cargo install cargo-fuzz`); builds on stable Rust with RUSTC_BOOTSTRAP=1.
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/flowsql-fuzz-target),
# FUZZ_SANITIZER (default none; `address` works too, slower),
# FUZZ_JOBS (default 1: parallel fuzzing processes per target).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
fuzz="$repo/fuzz"

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flowsql-fuzz-target}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"

targets_all=(sql line_decoder model_file checkpoint)

max_len() {
    case "$1" in
        sql) echo 65536 ;;
        line_decoder) echo 16384 ;;
        model_file) echo 65536 ;;
        checkpoint) echo 131072 ;;
    esac
}

# True when directory $1 is missing or empty.
empty() {
    [ ! -d "$1" ] || [ -z "$(ls -A "$1")" ]
}

# Statements of sqllogictest files: the lines after each `statement` or
# `query` header, up to `----` or a blank line, one file per record.
slt_records() {
    local slt=$1 out=$2 stem
    stem=$(basename "$slt" .slt)
    awk -v out="$out" -v stem="$stem" '
        function flush() {
            if (sql != "") { n++; f = sprintf("%s/slt-%s-%04d.sql", out, stem, n); printf "%s", sql > f; close(f) }
            sql = ""; in_sql = 0
        }
        /^(statement|query)( |$)/ { flush(); in_sql = 1; next }
        /^----/ { flush(); next }
        /^[[:space:]]*$/ { flush(); next }
        in_sql { sql = sql $0 "\n" }
        END { flush() }
    ' "$slt"
}

seed() {
    local corpus="$fuzz/corpus"
    if empty "$corpus/sql"; then
        mkdir -p "$corpus/sql"
        for slt in "$repo"/tests/sql/*.slt; do
            slt_records "$slt" "$corpus/sql"
        done
        find "$repo/sql-examples" -name '*.sql' | while read -r file; do
            cp "$file" "$corpus/sql/example-$(basename "$(dirname "$file")")-$(basename "$file")"
        done
    fi
    if empty "$corpus/line_decoder"; then
        mkdir -p "$corpus/line_decoder"
        cp "$fuzz"/seeds/line_decoder/* "$corpus/line_decoder/"
        # Chunks of the bundled data files, as they are.
        for file in "$repo"/data/*.csv "$repo"/data/*.json; do
            split -l 20 "$file" "$corpus/line_decoder/data-$(basename "$file")-"
        done
        # Bids rearranged into the target's columns (id, price, item, ts, ok).
        awk -F, 'NR > 1 && NR <= 41 { printf "%s,%s,bidder-%s,%s,%s\n", $1, $3, $2, $4, ($2 % 2 ? "true" : "false") }' \
            "$repo/data/bids.csv" > "$corpus/line_decoder/bids-as-csv"
        awk -F, '{ printf "{\"id\": %s, \"price\": %s, \"item\": \"%s\", \"ts\": \"%s\", \"ok\": %s}\n", $1, $2, $3, $4, $5 }' \
            "$corpus/line_decoder/bids-as-csv" > "$corpus/line_decoder/bids-as-json"
    fi
    for target in model_file checkpoint; do
        if empty "$corpus/$target"; then
            mkdir -p "$corpus/$target"
            cp "$fuzz/seeds/$target"/* "$corpus/$target/"
        fi
    done
}

seed
if [ "${1:-}" = "--seed-only" ]; then
    exit 0
fi
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${targets_all[@]}")
fi

failed=()
for target in "${targets[@]}"; do
    echo "== $target: $seconds s" >&2
    # A run that found crashes exits non-zero: note it and go on to the next target.
    cargo fuzz run --fuzz-dir "$fuzz" --sanitizer "$sanitizer" --codegen-units 16 "$target" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -rss_limit_mb=4096 -timeout=10 -fork="$jobs" \
        -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -print_final_stats=1 ||
        failed+=("$target")
done
echo "crashes, timeouts and OOMs, if any, are under fuzz/artifacts/<target>/" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "targets that found something: ${failed[*]}" >&2
    exit 1
fi
