# Throwaway test services, sourced by scripts/test and the benchmarks:
# a PostgreSQL cluster, an S3-compatible server and an OpenSSH server (with a second cluster
# behind it), all on loopback, removed on exit.
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

# An OpenSSH server on loopback with its own host key, a user who logs in with a key of the
# tests' own, and a PostgreSQL cluster that listens only on a Unix socket: the one way to it
# is through the SSH server (see pg_ident below). As root the user is a throwaway one (a fresh `useradd` is locked
# until given a '*' password); otherwise sshd can only let in the user running it.
start_ssh() {
  local dir=$SERVICES_DIR/ssh bin user
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$dir" /run/sshd 2>/dev/null || mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    user=lifeboat-ssh
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    usermod -p '*' "$user"
  else
    user=$(id -un)
  fi
  ssh-keygen -q -t ed25519 -N '' -C lifeboat-test-host -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C lifeboat-test-client -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  chmod 644 "$dir/authorized_keys"
  export LIFEBOAT_TEST_SSH_PORT=$(free_port)
  export LIFEBOAT_TEST_SSH_USER=$user
  export LIFEBOAT_TEST_SSH_KEY=$dir/client_key
  export LIFEBOAT_TEST_SSH_HOST_KEY=$dir/host_key.pub
  export LIFEBOAT_TEST_SSHD=$(command -v sshd || echo /usr/sbin/sshd)
  export LIFEBOAT_TEST_SSH_DIR=$dir
  cat >"$dir/sshd_config" <<CONF
Port $LIFEBOAT_TEST_SSH_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
Subsystem sftp internal-sftp
StrictModes no
CONF
  "$LIFEBOAT_TEST_SSHD" -f "$dir/sshd_config" -E "$dir/sshd.log"
  wait_for_port "$LIFEBOAT_TEST_SSH_PORT" sshd

  # Peer authentication mapped for the SSH user alone: a connection that did not come through
  # the SSH server (as that user) is refused, so a test that passes went through it.
  local pg=$SERVICES_DIR/pg-ssh
  mkdir -p "$pg/sock"
  chmod 755 "$pg" "$pg/sock"
  [ "$(id -u)" = 0 ] && chown postgres "$pg" "$pg/sock"
  as_pg_owner "$bin/initdb" -D "$pg/data" -U postgres --auth-local=peer --auth-host=reject \
    -E UTF8 --locale=C.UTF-8 >"$pg/initdb.log"
  # Members of lifeboat_password log in with a password instead, through the same socket.
  printf 'local all +lifeboat_password scram-sha-256\nlocal all all peer map=tunnel\n' |
    as_pg_owner tee "$pg/data/pg_hba.conf" >/dev/null
  echo "tunnel $user postgres" | as_pg_owner tee "$pg/data/pg_ident.conf" >/dev/null
  export LIFEBOAT_TEST_SSH_PG_PORT=$(free_port)
  export LIFEBOAT_TEST_SSH_PG_SOCKET_DIR=$pg/sock
  as_pg_owner "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
    -o "-p $LIFEBOAT_TEST_SSH_PG_PORT -k $pg/sock -c listen_addresses= -c fsync=off" start >/dev/null
  local psql=("$bin/psql" -X -q -h "$pg/sock" -p "$LIFEBOAT_TEST_SSH_PG_PORT" -U postgres -d postgres)
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "${psql[@]}" -c "CREATE ROLE lifeboat_password NOLOGIN"
  else "${psql[@]}" -c "CREATE ROLE lifeboat_password NOLOGIN"; fi
  echo "OpenSSH server on 127.0.0.1:$LIFEBOAT_TEST_SSH_PORT (user $user); PostgreSQL behind it on $pg/sock only"
}

stop_services() {
  [ -f "$SERVICES_DIR/ssh/sshd.pid" ] && kill "$(cat "$SERVICES_DIR/ssh/sshd.pid")" 2>/dev/null || true
  if [ -f "$SERVICES_DIR/pg-ssh/data/postmaster.pid" ]; then
    as_pg_owner "$LIFEBOAT_TEST_PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg-ssh/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  local dir=$SERVICES_DIR/pg
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg_owner "$LIFEBOAT_TEST_PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  for pid in "${SERVICE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$SERVICES_DIR"
}
trap stop_services EXIT
