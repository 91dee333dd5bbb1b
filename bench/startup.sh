#!/usr/bin/env bash
# Time from `latchkey serve` to /readyz answering 200 on a database of N tokens (default
# 1,000,000), and uncached verification latency at that size. Seeding a million tokens takes a
# few minutes the first time; the database is kept in $TMPDIR/latchkey-bench for later runs (the
# verify benchmarks use the same file).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-1000000}
dir=${TMPDIR:-/tmp}/latchkey-bench
db=$dir/tokens-$N-v1.db
mkdir -p "$dir" bench/out
go build -o bench/out/latchkey ./cmd/latchkey
go build -o bench/out/seed ./bench/cmd/seed
go build -o bench/out/startup ./bench/cmd/startup
if [ ! -s "$db.tokens" ]; then
  rm -f "$db"*
  bench/out/seed -db "$db" -n "$N" -tokens "$db.tokens"
fi
ls -la "$db" | awk '{print "database: " $5/1e6 " MB"}'
bench/out/startup -bin bench/out/latchkey -db "$db" -runs 5
if [ "$N" = 1000000 ]; then
  go test -run '^$' -bench 'VerifyUncachedSQLite' -benchtime 20000x ./verify/ | grep -E 'Benchmark|ok'
fi
