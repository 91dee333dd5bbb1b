#!/usr/bin/env bash
# Forward-auth throughput against a bare net/http baseline doing the same SHA-256 + map lookup.
# Builds both, seeds N tokens, runs wrk against each alternately (ROUNDS rounds, same connections
# and duration) and prints the mean requests/s of each; the last line is the ratio.
#
#   bash bench/http.sh                 # N=10000 ROUNDS=3 DURATION=10s CONNS=16 IDENTITY_HEADERS=0
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
# IDENTITY_HEADERS=1 makes the baseline also send the two identity headers forward-auth must send
# (a like-for-like comparison); by default it is the bare handler.
IDENTITY_HEADERS=${IDENTITY_HEADERS:-0}
out=bench/out
mkdir -p "$out"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

go build -o "$out/latchkey" ./cmd/latchkey
go build -o "$out/baseline" ./bench/cmd/baseline
go build -o "$out/seed" ./bench/cmd/seed
rm -f "$out"/http.db*
"$out/seed" -db "$out/http.db" -n "$N" -tokens "$out/http-tokens.txt" >&2
cat > "$out/http-rules.yaml" <<'RULES'
rules:
  - methods: [GET]
    path: /api/projects/{project_id}/jobs/**
    resource: jobs
    access: read
RULES
# wrk cycles through the tokens, sending what nginx's auth_request sends.
{
  echo 'local tokens = {}'
  echo "for line in io.lines(\"$out/http-tokens.txt\") do tokens[#tokens + 1] = line end"
  echo 'local i = 0'
  echo 'request = function()'
  echo '  i = i % #tokens + 1'
  echo '  return wrk.format("GET", nil, {["Authorization"] = "Token " .. tokens[i], ["X-Original-Method"] = "GET", ["X-Original-URI"] = "/api/projects/1/jobs/7"})'
  echo 'end'
} > "$out/http.lua"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$out/latchkey" serve --db "$out/http.db" --addr 127.0.0.1:0 --forward-auth-rules "$out/http-rules.yaml" --log-level warn >"$out/latchkey.out" 2>&1 &
pids+=($!)
bflags=()
[ "$IDENTITY_HEADERS" = 1 ] && bflags=(-identity-headers)
"$out/baseline" -tokens "$out/http-tokens.txt" "${bflags[@]}" >"$out/baseline.out" 2>&1 &
pids+=($!)
url_of() { for _ in $(seq 1 200); do u=$(grep -o 'serving on http://[0-9.:]*' "$1" | head -1 | cut -d' ' -f3 || true); [ -n "$u" ] && { echo "$u"; return; }; sleep 0.05; done; echo "no server in $1" >&2; exit 1; }
lk=$(url_of "$out/latchkey.out")/v1/forward-auth
base=$(url_of "$out/baseline.out")/check

rps() { wrk -t"$THREADS" -c"$CONNS" -d"$1" -s "$out/http.lua" "$2" | awk '/Requests\/sec/ {print $2}'; }
# Warm both up (latchkey fills its cache from SQLite) before measuring.
rps 3s "$lk" >/dev/null
rps 3s "$base" >/dev/null
lk_sum=0 base_sum=0
for r in $(seq 1 "$ROUNDS"); do
  b=$(rps "$DURATION" "$base"); l=$(rps "$DURATION" "$lk")
  printf 'round %d: baseline %s rps, forward-auth %s rps\n' "$r" "$b" "$l"
  base_sum=$(awk "BEGIN{print $base_sum + $b}"); lk_sum=$(awk "BEGIN{print $lk_sum + $l}")
done
awk -v b="$base_sum" -v l="$lk_sum" -v r="$ROUNDS" -v n="$N" -v c="$CONNS" -v d="$DURATION" 'BEGIN {
  printf "mean: baseline %.0f rps, forward-auth %.0f rps (%d tokens, %d connections, %s x %d rounds)\n", b / r, l / r, n, c, d, r
  printf "forward-auth/baseline rps ratio: %.2f\n", l / b
}'
