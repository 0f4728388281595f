#!/usr/bin/env bash
# Make sure the servers used by the integration tests are up on loopback:
# Redis 6379, PostgreSQL 5432, MariaDB 3306, NATS 4222.
#
# A service whose port already answers is left alone. Otherwise the server is
# installed with apt-get when missing, started, and waited for (up to 30 s).
# Prints one line per service. Exits non-zero when a service could not be
# brought up and CI is set; without CI it only warns. Exports nothing: the
# Makefile sets the FRESH_* connection variables.
#
# Meant for disposable CI machines and dev containers, where it runs as root
# (or with sudo available).

set -euo pipefail

WAIT_SECONDS=30
LOG_DIR=${TMPDIR:-/tmp}/fresh-services
FAILED=()

if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo -n)
else
	SUDO=()
fi

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_port PORT: wait up to WAIT_SECONDS for the port to answer.
wait_port() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
		if port_open "$1"; then
			return 0
		fi
		sleep 0.2
	done
	port_open "$1"
}

# log NAME: the file that collects the output of NAME's install and start.
log() {
	mkdir -p "$LOG_DIR"
	echo "$LOG_DIR/$1.log"
}

# apt_install LOGFILE PACKAGE: install PACKAGE, refreshing the package index
# only if the first attempt fails.
apt_install() {
	local logfile=$1 pkg=$2
	export DEBIAN_FRONTEND=noninteractive
	if "${SUDO[@]}" apt-get install -y --no-install-recommends "$pkg" >>"$logfile" 2>&1; then
		return 0
	fi
	"${SUDO[@]}" apt-get update >>"$logfile" 2>&1 || true
	"${SUDO[@]}" apt-get install -y --no-install-recommends "$pkg" >>"$logfile" 2>&1
}

pg_version() {
	find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1
}

# pg_sql SQL: run SQL as postgres over TCP and print the result unaligned.
pg_sql() {
	psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -X -At -v ON_ERROR_STOP=1 -c "$1"
}

# Trust TCP logins from loopback for postgres and root, a superuser role
# root, and a database test.
setup_postgres() {
	local ver hba marker='# added by fresh scripts/services.sh'
	ver=$(pg_version)
	hba=/etc/postgresql/$ver/main/pg_hba.conf
	if ! pg_sql 'SELECT 1' >/dev/null 2>&1; then
		if ! grep -qF "$marker" "$hba"; then
			# The first matching line wins, so the trust lines go on top.
			"${SUDO[@]}" sed -i "1i $marker\\
host all postgres,root 127.0.0.1/32 trust\\
host all postgres,root ::1/128 trust" "$hba" || return 1
		fi
		"${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || return 1
		sleep 0.5
		pg_sql 'SELECT 1' >/dev/null || return 1
	fi
	local n
	n=$(pg_sql "SELECT count(*) FROM pg_roles WHERE rolname = 'root'") || return 1
	if [[ $n == 0 ]]; then
		pg_sql 'CREATE ROLE root LOGIN SUPERUSER' >/dev/null || return 1
	fi
	n=$(pg_sql "SELECT count(*) FROM pg_database WHERE datname = 'test'") || return 1
	if [[ $n == 0 ]]; then
		pg_sql 'CREATE DATABASE test' >/dev/null || return 1
	fi
}

# Root may log in over TCP with an empty password, and a database test exists.
# A fresh Debian install only lets root in through the Unix socket, which is
# what the repair below uses.
setup_mariadb() {
	if mariadb -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test' 2>/dev/null; then
		return 0
	fi
	"${SUDO[@]}" mariadb -u root <<-'SQL' || return 1
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
		FLUSH PRIVILEGES;
		CREATE DATABASE IF NOT EXISTS test;
	SQL
	mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null
}

have_redis() { command -v redis-server >/dev/null 2>&1; }
have_postgres() { command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n $(pg_version) ]]; }
have_mariadb() { [[ -x /usr/sbin/mariadbd ]]; }
have_nats() { [[ -x /usr/sbin/nats-server ]]; }

start_redis() {
	"${SUDO[@]}" mkdir -p /var/lib/redis /var/log/redis
	"${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_postgres() {
	"${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
}

start_mariadb() {
	"${SUDO[@]}" mkdir -p /run/mysqld /var/log/mysql
	if id mysql >/dev/null 2>&1; then
		"${SUDO[@]}" chown mysql:mysql /run/mysqld /var/log/mysql
	fi
	"${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

start_nats() {
	"${SUDO[@]}" mkdir -p /var/lib/nats-server
	"${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

# ensure NAME PORT PACKAGE: bring one service up and print its status line.
# Everything it runs is checked explicitly: set -e does not apply inside a
# function called from a condition.
ensure() {
	local name=$1 port=$2 pkg=$3 logfile how=started
	if port_open "$port"; then
		printf '%-10s 127.0.0.1:%-5s already running\n' "$name" "$port"
		return 0
	fi
	logfile=$(log "$name")
	: >"$logfile"
	if ! "have_$name"; then
		if ! apt_install "$logfile" "$pkg" || ! "have_$name"; then
			fail "$name" "$port" "apt-get install $pkg failed" "$logfile"
			return 0
		fi
		how='installed and started'
	fi
	# The package may have started the server itself.
	if ! port_open "$port" && ! "start_$name" >>"$logfile" 2>&1; then
		fail "$name" "$port" "start command failed" "$logfile"
		return 0
	fi
	if ! wait_port "$port"; then
		fail "$name" "$port" "port not answering after ${WAIT_SECONDS}s" "$logfile"
		return 0
	fi
	if declare -F "setup_$name" >/dev/null && ! "setup_$name" >>"$logfile" 2>&1; then
		fail "$name" "$port" "setup (users, database test) failed" "$logfile"
		return 0
	fi
	printf '%-10s 127.0.0.1:%-5s %s\n' "$name" "$port" "$how"
}

# fail NAME PORT REASON LOGFILE: print the status line and the log's tail.
fail() {
	FAILED+=("$1")
	printf '%-10s 127.0.0.1:%-5s FAILED: %s (log: %s)\n' "$1" "$2" "$3" "$4"
	tail -n 20 "$4" 2>/dev/null | sed 's/^/    | /' >&2 || true
}

ensure redis 6379 redis-server
ensure postgres 5432 postgresql
ensure mariadb 3306 mariadb-server
ensure nats 4222 nats-server

# Tools the integration tests start on their own ports: installed when missing.
if ! command -v pgbouncer >/dev/null 2>&1 && [[ ! -x /usr/sbin/pgbouncer ]]; then
	if apt_install "$(log pgbouncer)" pgbouncer; then
		printf '%-10s installed (the tests start their own)\n' pgbouncer
	else
		FAILED+=(pgbouncer)
		printf '%-10s FAILED to install (log: %s)\n' pgbouncer "$(log pgbouncer)"
	fi
fi

if ((${#FAILED[@]} > 0)); then
	if [[ -n ${CI:-} ]]; then
		echo "services.sh: could not bring up: ${FAILED[*]}" >&2
		exit 1
	fi
	echo "services.sh: warning: could not bring up: ${FAILED[*]}; their integration tests will skip (CI is not set)" >&2
fi
