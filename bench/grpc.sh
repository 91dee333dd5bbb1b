#!/usr/bin/env bash
# Envoy ext_authz over gRPC: latchkey's Check (serve --grpc-addr) against a bare gRPC server doing
# the same SHA-256 + map lookup (bench/cmd/grpcbaseline). Builds both, seeds N tokens, drives each
# alternately with bench/cmd/grpcload (ROUNDS rounds, same connections, concurrency and duration),
# and prints each round's calls/s and server CPU time per call; the last line is the median of
# the rounds' ratios.
#
#   bash bench/grpc.sh    # N=10000 ROUNDS=10 DURATION=5s CONNS=2 CONCURRENCY=32 WARMUP=3s IDENTITY_HEADERS=0
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${N:-10000}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-2}
CONCURRENCY=${CONCURRENCY:-32}
# IDENTITY_HEADERS=1 makes the baseline also answer with the two identity headers latchkey must
# set (a like-for-like comparison); by default it answers a bare OK.
IDENTITY_HEADERS=${IDENTITY_HEADERS:-0}
# WARMUP is how long each server is driven before the rounds, after being asked once about every
# token (so that latchkey's first rounds do not measure SQLite filling its cache).
WARMUP=${WARMUP:-3s}
# BASELINE_GOGC sets the baseline's collector target; latchkey serve runs at 400 (--gc-percent),
# the baseline at Go's default (100) unless told.
BASELINE_GOGC=${BASELINE_GOGC:-}
out=bench/out
mkdir -p "$out"

go build -o "$out/latchkey" ./cmd/latchkey
go build -o "$out/grpcbaseline" ./bench/cmd/grpcbaseline
go build -o "$out/grpcload" ./bench/cmd/grpcload
go build -o "$out/seed" ./bench/cmd/seed
rm -f "$out"/grpc.db*
"$out/seed" -db "$out/grpc.db" -n "$N" -tokens "$out/grpc-tokens.txt" >&2
cat > "$out/grpc-rules.yaml" <<'RULES'
gateway: envoy
rules:
  - methods: [GET]
    path: /api/projects/{project_id}/jobs/**
    resource: jobs
    access: read
RULES

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$out/latchkey" serve --db "$out/grpc.db" --addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --forward-auth-rules "$out/grpc-rules.yaml" \
  --log-level warn >"$out/grpc-latchkey.out" 2>&1 &
pids+=($!)
bflags=()
[ "$IDENTITY_HEADERS" = 1 ] && bflags=(-identity-headers)
GOGC=$BASELINE_GOGC "$out/grpcbaseline" -tokens "$out/grpc-tokens.txt" "${bflags[@]}" >"$out/grpcbaseline.out" 2>&1 &
pids+=($!)
addr_of() { for _ in $(seq 1 200); do a=$(grep -o 'ext_authz (gRPC) listening on [0-9.:]*' "$1" | head -1 | awk '{print $5}' || true); [ -n "$a" ] && { echo "$a"; return; }; sleep 0.05; done; echo "no gRPC server in $1" >&2; exit 1; }
lk=$(addr_of "$out/grpc-latchkey.out")
base=$(addr_of "$out/grpcbaseline.out")

# One load run against a server: prints "<calls/s> <CPU µs per call>", the CPU time being the
# server process's user + system time over the run (from /proc).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() {
  local t0 t1 res
  t0=$(cpu_ticks "$3")
  res=$("$out/grpcload" -addr "$2" -tokens "$out/grpc-tokens.txt" -conns "$CONNS" -concurrency "$CONCURRENCY" -duration "$1" "${@:4}")
  t1=$(cpu_ticks "$3")
  case "$res" in
    *" 0 denied, 0 errors"*) ;;
    *) echo "load against $2 was not all OK: $res" >&2; exit 1 ;;
  esac
  awk -v t="$((t1 - t0))" -v hz="$hz" -v d="${1%s}" '{printf "%.0f %.2f\n", $1, (t / hz) * 1e6 / ($1 * d)}' <<<"$res"
}
# Warm both up before measuring: every token is asked about once (latchkey fills its cache from
# SQLite), then both are driven for WARMUP.
run "$WARMUP" "$lk" "${pids[0]}" -prime >/dev/null
run "$WARMUP" "$base" "${pids[1]}" -prime >/dev/null
: > "$out/grpc-rounds.txt"
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which server goes first, so that drift in the machine's load favours neither.
  if [ $((r % 2)) = 1 ]; then
    b=$(run "$DURATION" "$base" "${pids[1]}"); l=$(run "$DURATION" "$lk" "${pids[0]}")
  else
    l=$(run "$DURATION" "$lk" "${pids[0]}"); b=$(run "$DURATION" "$base" "${pids[1]}")
  fi
  read -r brps bcpu <<<"$b"; read -r lrps lcpu <<<"$l"
  printf 'round %d: baseline %s calls/s (%s µs CPU/call), latchkey %s calls/s (%s µs CPU/call)\n' "$r" "$brps" "$bcpu" "$lrps" "$lcpu"
  echo "$brps $bcpu $lrps $lcpu" >> "$out/grpc-rounds.txt"
done
awk -v n="$N" -v c="$CONNS" -v k="$CONCURRENCY" -v d="$DURATION" '
  { b += $1; bc += $2; l += $3; lc += $4; r[NR] = $3 / $1; cr[NR] = $4 / $2 }
  function median(a, k,   i, j, t) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    printf "mean: baseline %.0f calls/s (%.2f µs CPU/call), latchkey %.0f calls/s (%.2f µs CPU/call) (%d tokens, %d connections, %d in flight, %s x %d rounds)\n", b / NR, bc / NR, l / NR, lc / NR, n, c, k, d, NR
    printf "ext_authz/baseline CPU per call ratio (median of rounds): %.2f\n", median(cr, NR)
    printf "ext_authz/baseline calls/s ratio: %.2f\n", median(r, NR)
  }' "$out/grpc-rounds.txt"
