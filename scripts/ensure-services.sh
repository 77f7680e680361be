#!/usr/bin/env bash
# Check (and where possible start) the local services the tests talk to: PostgreSQL and Redis.
# Prints how to start one it cannot start; exits non-zero then, so `make test` says why up front.
set -u
ok=0

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if [ "${MLOPS_MCP_SKIP_POSTGRES:-0}" != "1" ]; then
  if ! pg_up; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; trying to start it..." >&2
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >&2 || true
      for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
    fi
    if ! pg_up; then
      echo "PostgreSQL is still down. Start it with:" >&2
      echo "  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
      echo "or skip its tests with MLOPS_MCP_SKIP_POSTGRES=1." >&2
      ok=1
    fi
  fi
fi

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if [ "${MLOPS_MCP_SKIP_REDIS:-0}" != "1" ] && ! redis_up; then
  echo "Redis is not answering on 127.0.0.1:6379; trying to start it..." >&2
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || true
    for _ in $(seq 1 20); do redis_up && break; sleep 0.25; done
  fi
  if ! redis_up; then
    echo "Redis is still down. Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379" >&2
    echo "or skip its tests with MLOPS_MCP_SKIP_REDIS=1." >&2
    ok=1
  fi
fi
# Java 17 for the Spark engine's tests (pyspark runs Spark in local mode on the machine's JVM).
if [ "${MLOPS_MCP_SKIP_SPARK:-0}" != "1" ] && ! command -v java >/dev/null 2>&1; then
  echo "Java is missing (the spark tests need it); trying to install it..." >&2
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) >&2 || true
  fi
  if ! command -v java >/dev/null 2>&1; then
    echo "Java is still missing. Install it with: apt-get install -y openjdk-17-jre-headless" >&2
    echo "or skip the spark tests with MLOPS_MCP_SKIP_SPARK=1 (and -m 'not spark')." >&2
    ok=1
  fi
fi
exit $ok
