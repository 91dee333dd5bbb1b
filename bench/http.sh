#!/usr/bin/env bash
# Forward-auth throughput against a bare net/http baseline doing the same SHA-256 + map lookup.
# Builds both, seeds N tokens, runs wrk against each alternately (ROUNDS rounds, same connections
# and duration), and prints each round's requests/s and server CPU time per request; the last line
# is the median of the rounds' rps ratios.
#
#   bash bench/http.sh                 # N=10000 ROUNDS=10 DURATION=5s CONNS=16 IDENTITY_HEADERS=0
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-10000}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
# IDENTITY_HEADERS=1 makes the baseline also send the two identity headers forward-auth must send
# (a like-for-like comparison); by default it is the bare handler.
IDENTITY_HEADERS=${IDENTITY_HEADERS:-0}
# RATE_LIMIT=N gives every token a rate limit of N verifications per second (never hit at these
# rates when N is large): latchkey then counts each request and sends the RateLimit fields.
RATE_LIMIT=${RATE_LIMIT:-0}
out=bench/out
mkdir -p "$out"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

go build -o "$out/latchkey" ./cmd/latchkey
go build -o "$out/baseline" ./bench/cmd/baseline
go build -o "$out/seed" ./bench/cmd/seed
rm -f "$out"/http.db*
"$out/seed" -db "$out/http.db" -n "$N" -tokens "$out/http-tokens.txt" -rate-limit "$RATE_LIMIT" >&2
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

# One wrk run against a server: prints "<requests/s> <CPU µs per request>", the CPU time being the
# server process's user + system time over the run (from /proc), so that a noisy neighbour that
# slows both servers shows in the first number and not the second.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() {
  local t0 t1 out
  t0=$(cpu_ticks "$3")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$1" -s "$out_dir/http.lua" "$2")
  t1=$(cpu_ticks "$3")
  awk -v t="$((t1 - t0))" -v hz="$hz" -v d="${1%s}" '
    /Requests\/sec/ {rps = $2}
    END {printf "%.0f %.2f\n", rps, (t / hz) * 1e6 / (rps * d)}' <<<"$out"
}
out_dir=$out
# Warm both up (latchkey fills its cache from SQLite) before measuring.
run 3s "$lk" "${pids[0]}" >/dev/null
run 3s "$base" "${pids[1]}" >/dev/null
: > "$out/http-rounds.txt"
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which server goes first, so that drift in the machine's load favours neither.
  if [ $((r % 2)) = 1 ]; then
    b=$(run "$DURATION" "$base" "${pids[1]}"); l=$(run "$DURATION" "$lk" "${pids[0]}")
  else
    l=$(run "$DURATION" "$lk" "${pids[0]}"); b=$(run "$DURATION" "$base" "${pids[1]}")
  fi
  read -r brps bcpu <<<"$b"; read -r lrps lcpu <<<"$l"
  printf 'round %d: baseline %s rps (%s µs CPU/request), forward-auth %s rps (%s µs CPU/request)\n' "$r" "$brps" "$bcpu" "$lrps" "$lcpu"
  echo "$brps $bcpu $lrps $lcpu" >> "$out/http-rounds.txt"
done
# Each round's ratio compares two runs made seconds apart; the median of those ratios resists the
# spikes a shared machine adds to single runs better than a ratio of totals.
awk -v n="$N" -v c="$CONNS" -v d="$DURATION" '
  { b += $1; bc += $2; l += $3; lc += $4; r[NR] = $3 / $1; cr[NR] = $4 / $2 }
  function median(a, k,   i, j, t) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    printf "mean: baseline %.0f rps (%.2f µs CPU/request), forward-auth %.0f rps (%.2f µs CPU/request) (%d tokens, %d connections, %s x %d rounds)\n", b / NR, bc / NR, l / NR, lc / NR, n, c, d, NR
    printf "forward-auth/baseline CPU per request ratio (median of rounds): %.2f\n", median(cr, NR)
    printf "forward-auth/baseline rps ratio: %.2f\n", median(r, NR)
  }' "$out/http-rounds.txt"
