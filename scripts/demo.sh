#!/usr/bin/env bash
# Sets up and runs the O2O demo: one customer's journey from the web shop into a store and back,
# and a customer without consent walking the same path. Today every step runs on the native
# engine through the `omnirule` command; the browser, edge and store hosts will take over their
# steps as they land (see README, Status).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build -q -p omnirule-cli
omnirule=target/debug/omnirule
rules=examples/02-knitwear-in-store
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# Print decisions of `omnirule run` output lines in words.
show() {
  python3 -c '
import json, sys
for line in sys.stdin:
    out = json.loads(line)
    event, ds = out["event"], out["decisions"]
    if not ds:
        print("    %s: nothing personal" % event)
    for d in ds:
        what = d["action"] or "control (no action)"
        params = ", ".join("%s=%s" % (k, json.dumps(v)) for k, v in sorted(d["params"].items()))
        print("    %s: %s -> %s %s" % (event, d["rule"], what, params))
'
}
event() { printf '%s\n' "$@" > "$work/events.jsonl"; }

$omnirule build "$rules" -o "$work/knitwear.bundle" 2>/dev/null
b="$work/knitwear.bundle"
cat > "$work/ana.json" <<'JSON'
{"id": "ana", "tier": "silver", "lifetime_value": 120, "labels": [], "consents": ["marketing", "location"], "first_name": "Ana"}
JSON
cat > "$work/jon.json" <<'JSON'
{"id": "jon", "tier": "silver", "lifetime_value": 120, "labels": [], "consents": []}
JSON

for who in ana jon; do
  say "== ${who}: consents $(python3 -c "import json;print(json.load(open('$work/$who.json'))['consents'])")"
  say "1. Friday: ${who} browses the web shop (web engine)"
  event '{"type":"page_view","id":"w1","time":"2026-11-20T10:00:00Z","sku":"SW-1","category":"knitwear","price":79}' \
        '{"type":"page_view","id":"w2","time":"2026-11-20T10:03:00Z","sku":"SC-4","category":"scarves","price":29}'
  $omnirule run "$b" --profile "$work/$who.json" --events "$work/events.jsonl" --write-memory "$work/$who-web.json" | show
  say "2. The web memory is merged into the store's memory for ${who}"
  $omnirule merge "$b" "$work/$who-web.json" -o "$work/$who-store.json"
  printf '    the store now remembers: '
  python3 -c "import json;m=json.load(open('$work/$who-store.json'));print(json.dumps(m.get('events', [])))"
  say "3. Sunday 16:30 in Paris: the entrance beacon sees ${who} (store engine)"
  event '{"type":"beacon_enter","id":"s1","time":"2026-11-22T15:30:00Z","store":"paris-01","zone":"entrance"}'
  $omnirule run "$b" --profile "$work/$who.json" --events "$work/events.jsonl" --memory "$work/$who-store.json" --write-memory "$work/$who-store.json" | show
  say "4. ${who} buys the sweater at the till; the next beacon visit offers it no more"
  event '{"type":"purchase","id":"pos1","time":"2026-11-22T15:50:00Z","sku":"SW-1","amount":63.2,"channel":"store"}' \
        '{"type":"beacon_enter","id":"s2","time":"2026-11-23T11:00:00Z","store":"paris-01","zone":"entrance"}'
  $omnirule run "$b" --profile "$work/$who.json" --events "$work/events.jsonl" --memory "$work/$who-store.json" --write-memory "$work/$who-store.json" | show
done
say "Every step above ran the same bundle through the same engine."
