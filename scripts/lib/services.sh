# Throwaway test services, sourced by scripts/test and the benchmarks:
# a PostgreSQL cluster and an S3-compatible server, both on loopback, removed on exit.
# Tests read their coordinates from LIFEBOAT_TEST_* variables; set LIFEBOAT_TEST_S3_ENDPOINT
# (and the other S3 variables) beforehand to run the same tests against another S3 server.

SERVICES_DIR=$(mktemp -d /tmp/lifeboat-test.XXXXXX)
chmod 755 "$SERVICES_DIR"
SERVICE_PIDS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start listening on port $port" >&2
  return 1
}

# PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  local dir=$SERVICES_DIR/pg
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  export LIFEBOAT_TEST_PG_HOST=127.0.0.1
  export LIFEBOAT_TEST_PG_PORT=$(free_port)
  export LIFEBOAT_TEST_PG_USER=postgres
  export LIFEBOAT_TEST_PG_PASSWORD="pg-$RANDOM-$RANDOM"
  export LIFEBOAT_TEST_PG_BIN=$bin
  printf '%s\n' "$LIFEBOAT_TEST_PG_PASSWORD" > "$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pwfile"
  as_pg_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  # TLS with a certificate for "localhost" from a CA of the tests' own: a client that checks
  # the server (verify-full) succeeds only when given LIFEBOAT_TEST_PG_CA.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Lifeboat test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/data/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/data/server.crt" 2>/dev/null
  chmod 600 "$dir/data/server.key"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
  export LIFEBOAT_TEST_PG_CA=$dir/ca.crt
  as_pg_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $LIFEBOAT_TEST_PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on" start >/dev/null
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$LIFEBOAT_TEST_PG_PORT"
}

start_s3() {
  if [ -n "${LIFEBOAT_TEST_S3_ENDPOINT:-}" ]; then
    echo "S3: using $LIFEBOAT_TEST_S3_ENDPOINT from the environment"
    return
  fi
  local dir=$SERVICES_DIR/s3 port
  port=$(free_port)
  export LIFEBOAT_TEST_S3_BUCKET=lifeboat-test
  export LIFEBOAT_TEST_S3_REGION=us-east-1
  export LIFEBOAT_TEST_S3_ACCESS_KEY_ID=lifeboat-test-key
  export LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY="s3-$RANDOM-$RANDOM"
  # s3s-fs rejects STANDARD_IA (InvalidStorageClass); AWS, Garage and moto accept it.
  export LIFEBOAT_TEST_S3_STORAGE_CLASS=STANDARD
  export LIFEBOAT_TEST_S3_REJECTS_STANDARD_IA=1
  mkdir -p "$dir/$LIFEBOAT_TEST_S3_BUCKET"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key "$LIFEBOAT_TEST_S3_ACCESS_KEY_ID" \
    --secret-key "$LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY" "$dir" >"$SERVICES_DIR/s3.log" 2>&1 &
  SERVICE_PIDS+=($!)
  export LIFEBOAT_TEST_S3_ENDPOINT=http://127.0.0.1:$port
  wait_for_port "$port" s3s-fs
  echo "S3 (s3s-fs) on $LIFEBOAT_TEST_S3_ENDPOINT"
}

stop_services() {
  local dir=$SERVICES_DIR/pg
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg_owner "$LIFEBOAT_TEST_PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  for pid in "${SERVICE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$SERVICES_DIR"
}
trap stop_services EXIT
