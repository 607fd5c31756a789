#!/usr/bin/env bash
# Real-component check: `ralis serve` from the image's install path and a real Prometheus server
# (Debian's package) running the project's own config. Real DSADS windows go in over HTTP and
# the WebSocket; then Prometheus must hold the `ralis_` series and every dashboard query must
# return data.
#   .ci/prometheus_check.sh SERVICE_VENV
# SERVICE_VENV: a venv made by `deploy/install.sh service` (no torch).
set -euo pipefail

venv=${1:?usage: .ci/prometheus_check.sh SERVICE_VENV}
venv=$(cd "$venv" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
windows=tests/fixtures/dsads_windows/windows.npz
subset=tests/fixtures/dsads_subset/dsads_subset.zip
scrape_interval=1s

log() { printf '[prometheus-check] %s\n' "$*"; }
fail() {
    printf '[prometheus-check] FAILED: %s\n' "$*" >&2
    exit 1
}

if ! command -v prometheus >/dev/null || ! command -v curl >/dev/null; then
    log "installing Debian's prometheus and curl"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus curl >/dev/null
fi
log "$(prometheus --version 2>&1 | head -n 1)"

work=$(mktemp -d)
service_pid=""
prometheus_pid=""
cleanup() {
    local status=$?
    for pid in "$service_pid" "$prometheus_pid"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ $status -ne 0 ]]; then
        for name in service prometheus; do
            [[ -f $work/$name.log ]] && { echo "--- $name.log (last 40 lines)"; tail -n 40 "$work/$name.log"; }
        done >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out waiting for $what"
        sleep 0.5
    done
}

# ---- the service ---------------------------------------------------------------------------
service_port=$(free_port)
base="http://127.0.0.1:$service_port"
log "starting ralis serve on $base"
RALIS_HOST=127.0.0.1 RALIS_PORT=$service_port "$venv/bin/ralis" serve >"$work/service.log" 2>&1 &
service_pid=$!
# The image's HEALTHCHECK probe, run against the live service.
wait_for 90 "the service's /healthz" "$venv/bin/python" deploy/healthcheck.py "$base/healthz"
wait_for 90 "the service's /readyz" curl -sf "$base/readyz"
log "service healthy and ready"

# ---- Prometheus with the project's config ----------------------------------------------------
# Only the discovery of the ralis job changes (compose DNS -> this service's address) and the
# intervals shrink; rules, paths and every other setting are the project's own.
prometheus_port=$(free_port)
cp deploy/prometheus/*.yml "$work/"
"$venv/bin/python" - "$work/prometheus.yml" "127.0.0.1:$service_port" "$scrape_interval" <<'EOF'
import sys

import yaml

path, target, interval = sys.argv[1:]
with open(path) as f:
    config = yaml.safe_load(f)
config["global"].update(scrape_interval=interval, evaluation_interval=interval)
jobs = {job["job_name"]: job for job in config["scrape_configs"]}
del jobs["ralis"]["dns_sd_configs"]
jobs["ralis"]["static_configs"] = [{"targets": [target]}]
config["scrape_configs"] = [jobs["ralis"]]  # the gpu job's DNS name does not exist here
with open(path, "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
EOF
promtool check config "$work/prometheus.yml" >/dev/null
log "starting prometheus on 127.0.0.1:$prometheus_port (scrape every $scrape_interval)"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
prom="http://127.0.0.1:$prometheus_port"
wait_for 60 "Prometheus to be ready" curl -sf "$prom/-/ready"

# ---- traffic: real DSADS windows ---------------------------------------------------------------
drive=("$venv/bin/python" .ci/drive_service.py --url "$base")
show() { "$venv/bin/python" -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$2"; }
curl -sf "$base/v1/model" >"$work/model.json"
log "model: $(show 'd["name"], d["version"], [v["name"] for v in d["views"]]' "$work/model.json")"
first_view=$(show 'd["views"][0]["name"]' "$work/model.json")
# Test subjects' windows (never trained on): all sensors, then the first sensor alone.
predictions=0
for index in 0 8 11 19 27 30; do
    for sensors in "" "$first_view"; do
        "${drive[@]}" ${sensors:+--sensors "$sensors"} body --windows "$windows" --index "$index" \
            >"$work/body.json" 2>"$work/truth.txt"
        curl -sf -X POST -H 'content-type: application/json' --data @"$work/body.json" \
            "$base/v1/predict" >"$work/answer.json" || fail "POST /v1/predict failed for window $index"
        log "window $index, true $(cat "$work/truth.txt") -> $(show 'd["activity"], "using", ",".join(d["views_used"])' "$work/answer.json")"
        predictions=$((predictions + 1))
    done
done
# One bad request, so the errors panel has a series: an unknown sensor must be refused with 422.
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data '{"sensors": {"no_such_sensor": [[0.0, 0.0, 0.0]]}}' "$base/v1/predict")
[[ $status == 422 ]] || fail "an unknown sensor was answered with $status, expected 422"
# 10 s of walking (a09) over the WebSocket from two sensors.
"${drive[@]}" --sensors "$first_view,$(show 'd["views"][-1]["name"]' "$work/model.json")" \
    stream --data "$subset" --members data/a09/p2/s01.txt data/a09/p2/s02.txt

# ---- what Prometheus scraped ---------------------------------------------------------------------
query() { curl -sf --get --data-urlencode "query=$1" "$prom/api/v1/query"; }
has_data() { query "$1" | "$venv/bin/python" -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'; }
wait_for 30 "ralis_requests_total in Prometheus" has_data 'ralis_requests_total{job="ralis",route="/v1/predict"}'
# Scrapes every second; wait until one has seen all the predictions made above.
wait_for 30 "Prometheus to count $predictions HTTP predictions" \
    has_data "sum(ralis_predictions_total{source=\"http\"}) >= $predictions"
wait_for 30 "a scrape after the stream closed" has_data 'sum(ralis_predictions_total{source="stream"}) > 0'
has_data 'up{job="ralis"} == 1' || fail "Prometheus reports the ralis target down"
log "ralis_ series in Prometheus: $(curl -sf "$prom/api/v1/label/__name__/values" | "$venv/bin/python" -c 'import json, sys; print(" ".join(n for n in json.load(sys.stdin)["data"] if n.startswith("ralis_")))')"
log "ralis_requests_total: $(query 'sum by (route, status) (ralis_requests_total)' | "$venv/bin/python" -c 'import json, sys; print("; ".join("{route} {status}={0}".format(r["value"][1], **r["metric"]) for r in json.load(sys.stdin)["data"]["result"]))')"
sleep 2 # let rate() windows hold at least two samples of every series
"$venv/bin/python" .ci/check_dashboard.py --prometheus "$prom" \
    --dashboard deploy/grafana/dashboards/ralis.json --rules deploy/prometheus/alerts.yml
log "ok"
