#!/bin/bash
# callgrind_relay.sh HOPSCOPE [SESSIONS]: user-space instructions per session of the relay,
# counted by valgrind's callgrind, which does not depend on what else the machine runs (the
# throughput bench does). Runs the relay twice under callgrind against smtp-sink on
# 127.0.0.1: once with no session (start-up and shutdown) and once with SESSIONS sessions of
# one 1 KB message each from smtp-source; prints the difference per session. Under valgrind
# SHA-256 runs in software (no SHA-NI), about 30k instructions per 1 KB message.
# Needs valgrind, postfix (smtp-source, smtp-sink). Loopback only; stops by itself.
set -euo pipefail
relay=${1:?usage: callgrind_relay.sh HOPSCOPE [SESSIONS]}
sessions=${2:-300}
work=$(mktemp -d)
trap 'kill "$sink" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do ss -ltn | grep -q "127.0.0.1:$1 " && return 0; sleep 0.1; done; return 1; }
sink_port=$(free_port)
sink_user=(); [ "$(id -u)" = 0 ] && sink_user=(-u nobody)
/usr/sbin/smtp-sink "${sink_user[@]}" -m 1000 127.0.0.1:"$sink_port" 256 >/dev/null 2>&1 &
sink=$!
wait_port "$sink_port"
run() {  # run NAME N: prints the total instructions of a relay run that serves N sessions
  local port dir pid
  port=$(free_port); dir="$work/$1"; mkdir -p "$dir"
  printf '[relay]\nmax_sessions = 2000\nmax_sessions_per_client = 2000\n[audit]\ndirectory = "%s"\n' \
    "$dir/audit" > "$dir/cfg.toml"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$relay" relay --config \
    "$dir/cfg.toml" --listen 127.0.0.1:"$port" --upstream 127.0.0.1:"$sink_port" \
    >"$dir/relay.log" 2>&1 &
  pid=$!
  wait_port "$port"
  if [ "$2" -gt 0 ]; then
    /usr/sbin/smtp-source -s 5 -m "$2" -l 1024 127.0.0.1:"$port"
    for _ in $(seq 1 600); do  # until every session's audit line is written
      [ "$(cat "$dir/audit/sessions.jsonl" 2>/dev/null | wc -l)" -ge "$2" ] && break
      sleep 0.1
    done
  fi
  kill -TERM "$pid"; wait "$pid" || true
  awk '/^(summary|totals):/ {print $2; exit}' "$dir/cg.out"
}
idle=$(run idle 0)
busy=$(run busy "$sessions")
echo "user-space instructions per 1 KB session: $(( (busy - idle) / sessions ))" \
  "($sessions sessions; start-up and shutdown: $idle)"
