#!/usr/bin/env bash
# Make sure the services the tests need are running; start them the way this machine does,
# and fail loudly when one cannot be had.
set -euo pipefail

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port
  for _ in $(seq 1 60); do port_open "$2" && return 0; sleep 0.5; done
  echo "ERROR: $1 is not reachable on 127.0.0.1:$2 and could not be started" >&2
  exit 1
}

if ! port_open 5432; then
  echo "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
fi
wait_port PostgreSQL 5432

# NATS with JetStream for the edge's NATS transport (tests/edge/test_nats.py).
if ! port_open 4222; then
  echo "starting nats-server (JetStream)"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_port NATS 4222

# The MQTT tests start their own Mosquitto (lossless settings) on a free port.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "installing Debian's mosquitto for the MQTT tests"
  apt_install mosquitto
fi
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "ERROR: mosquitto is missing and could not be installed" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  apt_install chromium
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "ERROR: /usr/bin/chromium is missing and could not be installed" >&2
  exit 1
fi
