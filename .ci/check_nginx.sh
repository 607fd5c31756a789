#!/usr/bin/env bash
# nginx -t on the compose edge's config (deploy/nginx/ralis.conf), wrapped in a minimal main
# config as the nginx image's conf.d include would be; the upstream host is only resolvable
# inside compose, so it is pointed at the loopback address for the check.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { echo "nginx missing: apt-get install nginx-light" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/server ralis:8000;/server 127.0.0.1:8000;/' deploy/nginx/ralis.conf > "$work/ralis.conf"
cat > "$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/error.log;
events {}
http {
    include $work/ralis.conf;
}
CONF
nginx -t -q -c "$work/nginx.conf"
echo "deploy/nginx/ralis.conf: nginx -t ok ($(nginx -v 2>&1))"
