#!/usr/bin/env bash
# testenv.sh: throwaway Redis, OpenLDAP, PostgreSQL 15 and a Samba AD domain
# controller on loopback for the integration tests (DESIGN.md convention 10,
# notes/test-servers.md); it also installs Postfix, which tests start
# themselves (scripts/testenv-postfix.sh).
#
#   scripts/testenv.sh start          install what is missing, start the servers,
#                                     write .testenv/env.sh (reuses a running set)
#   scripts/testenv.sh stop           stop the servers this checkout started, remove .testenv
#   scripts/testenv.sh env            print the path of .testenv/env.sh
#   scripts/testenv.sh run -- CMD...  start, run CMD with the env, stop, exit with CMD's status
#                                     (a set already running is reused and left running)
#
# Use by hand:  scripts/testenv.sh start && . .testenv/env.sh && go test ./...
#
# Everything lives in .testenv/ at the repository root, one folder per server,
# each with its PID file and log. Ports are probed upward from 16379 (Redis),
# 13389/13636 (LDAP/LDAPS) and 15432 (PostgreSQL) under a machine-wide lock, so
# two checkouts get different ports. The servers are test-only: no durability
# (Redis without persistence, slapd dbnosync, PostgreSQL fsync=off, Samba
# ldb:nosync), trust auth. One test CA (.testenv/tls/ca.crt) signs slapd's and
# Samba's certificates.
#
# Samba AD (scripts/testenv-samba.sh, which also tells how to add enabled and
# disabled AD users and groups over LDAP) listens on its fixed ports 389/636:
# it needs root and one DC per machine. DIRSYNC_TESTENV_NO_SAMBA=1 skips it.
#
# Postfix (scripts/testenv-postfix.sh) is only installed: env.sh names its
# postfix command (DIRSYNC_TEST_POSTFIX) and each test runs its own instance.
#
# Chromium and fonts-liberation (Debian's packages) are only installed, for
# the console's browser tests (internal/browsertest): env.sh names the browser
# (DIRSYNC_CHROMIUM) and each test starts its own headless instance.
#
# Status lines go to stderr so `run` never mixes them into CMD's stdout
# (e.g. `go test -json`). DIRSYNC_TESTENV_TIMEOUT (seconds, default 30)
# bounds each readiness wait.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SCRIPT")/.." && pwd -P)
STATE=$ROOT/.testenv
ENV_FILE=$STATE/env.sh
LOCK_FILE=${TMPDIR:-/tmp}/dirsync-testenv.lock
TIMEOUT=${DIRSYNC_TESTENV_TIMEOUT:-30}

PG_VERSION=15
PGBIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_DB=dirsync_test
LDAP_BASE_DN=dc=example,dc=com
LDAP_BIND_DN=cn=admin,$LDAP_BASE_DN
SLAPD=/usr/sbin/slapd
SLAPADD=/usr/sbin/slapadd
SLAPPASSWD=/usr/sbin/slappasswd
SAMBA_STARTED=0
CHROMIUM=/usr/bin/chromium

# The test CA and OpenLDAP; the Samba AD DC.
# shellcheck source=scripts/testenv-ldap.sh
. "$(dirname "$SCRIPT")/testenv-ldap.sh"
# shellcheck source=scripts/testenv-samba.sh
. "$(dirname "$SCRIPT")/testenv-samba.sh"
# shellcheck source=scripts/testenv-postfix.sh
. "$(dirname "$SCRIPT")/testenv-postfix.sh"

# OpenLDAP's tools must not pick up the machine's or the user's ldap.conf.
export LDAPCONF=/dev/null LDAPRC=/dev/null

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# fail_server NAME LOGFILE MESSAGE: report a server that did not come up, with
# the end of its log, and exit.
fail_server() {
	local name=$1 logfile=$2 msg=$3
	{
		printf 'testenv: ERROR: %s: %s\n' "$name" "$msg"
		printf 'testenv: %s log: %s\n' "$name" "$logfile"
		if [[ -s $logfile ]]; then
			printf -- '----- last lines of %s -----\n' "$logfile"
			tail -n 25 "$logfile"
			printf -- '-----\n'
		fi
	} >&2
	exit 1
}

# ---------------------------------------------------------------- helpers

# lock: serialise start/stop across every checkout on this machine, so port
# probing and binding cannot race. Daemons are started with fd 9 closed, or
# they would hold the lock for their whole life.
lock() {
	if [[ -w $LOCK_FILE ]] || { [[ ! -e $LOCK_FILE ]] && (umask 000 && : >>"$LOCK_FILE") 2>/dev/null; }; then
		exec 9>>"$LOCK_FILE"
	else
		exec 9<"$LOCK_FILE"
	fi
	# Generous: the holder may be installing packages.
	flock -w 600 9 || die "another scripts/testenv.sh held $LOCK_FILE for 10 minutes"
}
unlock() { exec 9>&-; }

# as_pg CMD...: initdb and postgres refuse to run as root.
as_pg() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@" 9>&-
	else
		"$@" 9>&-
	fi
}

# alive PID: the process exists and is not a zombie.
alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# ours PID MARKER: PID is alive and was started from MARKER (a folder of ours):
# its working directory, its stdout (spawn's log) or its command line names
# MARKER (samba overwrites its command line). Guards against a recycled PID so
# stop never signals a process it did not start.
ours() {
	local pid=$1 marker=$2 f
	alive "$pid" || return 1
	for f in cwd fd/1; do
		f=$(readlink "/proc/$pid/$f" 2>/dev/null) || f=
		[[ -n $f && $f/ == "$marker"/* ]] && return 0
	done
	f=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || f=
	[[ $f == *"$marker"* ]]
}

# port_free PORT: nothing listens on PORT (any address).
port_free() {
	local p=$1
	if command -v ss >/dev/null; then
		[[ -z $(ss -Hltn "sport = :$p" 2>/dev/null) ]]
	else
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 1; fi
	fi
}

TAKEN=" "
# pick_port BASE: set PORT to the first free port at or above BASE not taken
# by this run (no command substitution: TAKEN must persist).
pick_port() {
	local p=$1
	while ((p < $1 + 2000)); do
		if [[ $TAKEN != *" $p "* ]] && port_free "$p"; then
			TAKEN+="$p "
			PORT=$p
			return 0
		fi
		p=$((p + 1))
	done
	die "no free port in $1..$(($1 + 1999))"
}

# spawn LOGFILE CMD...: start CMD in its own session (a later Ctrl-C in the
# terminal must not reach it), detached from our stdio (a caller reading our
# output through a pipe must not wait for the daemon), reparented to init (so
# it never lingers as our zombie). Prints its PID.
spawn() {
	local logfile=$1
	shift
	(
		cd / || exit 1
		setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
		echo $!
	)
}

# wait_until NAME LOGFILE PID CHECK...: poll CHECK until it succeeds; fail
# clearly when PID dies or TIMEOUT passes.
wait_until() {
	local name=$1 logfile=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		alive "$pid" || fail_server "$name" "$logfile" "exited during startup"
		((SECONDS < deadline)) || fail_server "$name" "$logfile" "not ready after ${TIMEOUT}s"
		sleep 0.05
	done
}

# ---------------------------------------------------------------- packages

install_packages() {
	local pkgs=()
	command -v redis-server >/dev/null || pkgs+=(redis-server)
	[[ -x $SLAPD && -x $SLAPADD && -x $SLAPPASSWD ]] || pkgs+=(slapd)
	command -v ldapsearch >/dev/null || pkgs+=(ldap-utils)
	[[ -x $PGBIN/initdb && -x $PGBIN/pg_ctl && -x $PGBIN/postgres ]] || pkgs+=("postgresql-$PG_VERSION")
	command -v openssl >/dev/null || pkgs+=(openssl)
	# deploy/systemd's test checks the unit with `systemd-analyze verify`.
	command -v systemd-analyze >/dev/null || pkgs+=(systemd)
	samba_wanted && samba_missing_packages
	postfix_missing_packages
	# The console's browser tests; the fonts give screenshots real glyphs.
	[[ -x $CHROMIUM ]] || pkgs+=(chromium)
	[[ $(dpkg-query -W -f='${db:Status-Status}' fonts-liberation 2>/dev/null) == installed ]] || pkgs+=(fonts-liberation)
	((${#pkgs[@]})) || return 0

	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "missing packages (${pkgs[*]}) and not root: install them, or run as root"
		sudo=(sudo -n)
	fi
	local aptlog
	aptlog=$(mktemp "${TMPDIR:-/tmp}/dirsync-testenv-apt.XXXXXX")
	log "installing ${pkgs[*]} (apt-get, log $aptlog)"
	# Debian's slapd would otherwise build its own database under /var/lib/ldap.
	echo "slapd slapd/no_configuration boolean true" | "${sudo[@]}" debconf-set-selections
	postfix_preseed "${sudo[@]}"
	# Keep the packages' own services (redis on 6379, the main PostgreSQL
	# cluster, Debian's samba-ad-dc/smbd/nmbd/winbind, postfix on port 25)
	# from starting: we never use them.
	local policy=/usr/sbin/policy-rc.d own_policy=0
	if [[ ! -e $policy ]]; then
		# shellcheck disable=SC2064 # expand now: sudo and policy are locals
		trap "${sudo[*]} rm -f $policy" EXIT # even when apt-get is interrupted
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
		own_policy=1
	fi
	local rc=0
	{
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
			"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
				--no-install-recommends install "${pkgs[@]}"
	} >"$aptlog" 2>&1 || rc=$?
	if ((own_policy)); then
		"${sudo[@]}" rm -f "$policy"
		trap - EXIT
	fi
	if ((rc != 0)); then
		tail -n 30 "$aptlog" >&2
		die "apt-get install ${pkgs[*]} failed (exit $rc); full log: $aptlog"
	fi
	rm -f "$aptlog"
	postfix_after_install "${sudo[@]}"
	id postgres >/dev/null 2>&1 || die "user postgres missing after installing postgresql-$PG_VERSION"
}

# ---------------------------------------------------------------- redis

start_redis() {
	local dir=$STATE/redis port pid
	mkdir -p "$dir"
	pick_port 16379
	port=$PORT
	pid=$(spawn "$dir/redis.log" redis-server --bind 127.0.0.1 --port "$port" \
		--save '' --appendonly no --daemonize no --dir "$dir" --pidfile "$dir/redis.pid")
	echo "$pid" >"$dir/pid"
	wait_until redis "$dir/redis.log" "$pid" redis_ping "$port"
	REDIS_ADDR=127.0.0.1:$port
}

# redis_ping PORT: a RESP PING answered with +PONG (no redis-cli needed).
redis_ping() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 2 reply <&3 && [[ $reply == $'+PONG\r' ]]
	)
}

# ---------------------------------------------------------------- postgresql

start_postgres() {
	local dir=$STATE/postgres port data sockdir pid
	mkdir -p "$dir"
	((EUID == 0)) && chown postgres: "$dir"
	# The postgres user must reach and write its folder: a checkout under a
	# private home (e.g. /root, mode 700) cannot host it, so use /tmp instead.
	if ! as_pg test -w "$dir"; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/dirsync-testenv-pg.XXXXXX")
		chmod 755 "$dir"
		((EUID == 0)) && chown postgres: "$dir"
		echo "$dir" >"$STATE/postgres/home"
	fi
	data=$dir/data
	pick_port 15432
	port=$PORT
	# A Unix socket path is limited to 107 bytes.
	sockdir=$dir
	if ((${#sockdir} + 20 > 107)); then
		sockdir=$(mktemp -d "${TMPDIR:-/tmp}/dirsync-testenv-pgsock.XXXXXX")
		((EUID == 0)) && chown postgres: "$sockdir"
		echo "$sockdir" >"$STATE/postgres/sockdir"
	fi
	as_pg "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N \
		>"$dir/initdb.log" 2>&1 || fail_server postgres "$dir/initdb.log" "initdb failed"
	cat >>"$data/postgresql.conf" <<EOF

# scripts/testenv.sh: throwaway, test-only settings.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t "$TIMEOUT" start \
		>"$dir/pg_ctl.log" 2>&1 ||
		{ cat "$dir/pg_ctl.log" >>"$dir/postgres.log"; fail_server postgres "$dir/postgres.log" "pg_ctl start failed"; }
	pid=$(head -n 1 "$data/postmaster.pid")
	echo "$pid" >"$STATE/postgres/pid"
	PGSSLMODE=disable PGCONNECT_TIMEOUT=5 "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$PG_DB" \
		>"$dir/createdb.log" 2>&1 || fail_server postgres "$dir/createdb.log" "createdb $PG_DB over TCP failed"
	PG_DSN="postgres://postgres@127.0.0.1:$port/$PG_DB?sslmode=disable"
}

# ---------------------------------------------------------------- start/stop

# running: the state folder describes a complete set whose servers all live.
running() {
	[[ -f $ENV_FILE ]] || return 1
	local s servers=(redis ldap postgres)
	# A set started without Samba is incomplete when Samba is wanted now.
	if samba_wanted || [[ -f $STATE/samba/pid ]]; then servers+=(samba); fi
	for s in "${servers[@]}"; do
		ours "$(cat "$STATE/$s/pid" 2>/dev/null)" "$(marker "$s")" || return 1
	done
}

# marker SERVER: the folder that identifies SERVER's process (see ours).
marker() {
	if [[ $1 == postgres && -f $STATE/postgres/home ]]; then
		cat "$STATE/postgres/home"
	else
		echo "$STATE/$1"
	fi
}

summary() {
	(
		unset DIRSYNC_TEST_AD_URL DIRSYNC_TEST_POSTFIX DIRSYNC_CHROMIUM
		# shellcheck disable=SC1090
		. "$ENV_FILE"
		log "redis     $DIRSYNC_TEST_REDIS_ADDR"
		log "ldap      $DIRSYNC_TEST_LDAP_URL $DIRSYNC_TEST_LDAPS_URL ($DIRSYNC_TEST_LDAP_BASE_DN)"
		log "postgres  ${DIRSYNC_TEST_PG_DSN%%\?*}"
		log "postfix   ${DIRSYNC_TEST_POSTFIX:-not installed} (each test starts its own instance)"
		log "chromium  ${DIRSYNC_CHROMIUM:-not installed} (each browser test starts its own)"
		if [[ -n ${DIRSYNC_TEST_AD_URL:-} ]]; then
			# shellcheck disable=SC2153 # set by env.sh
			log "samba-ad  $DIRSYNC_TEST_AD_URL $DIRSYNC_TEST_ADS_URL ($DIRSYNC_TEST_AD_BASE_DN)"
		else
			log "samba-ad  not started (DIRSYNC_TESTENV_NO_SAMBA=1)"
		fi
	)
}

# stop_server NAME SIGNAL: signal the recorded PID if it is ours, wait for it.
stop_server() {
	local name=$1 sig=$2 pid mk
	pid=$(cat "$STATE/$name/pid" 2>/dev/null) || return 0
	mk=$(marker "$name")
	ours "$pid" "$mk" || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 30))
	while alive "$pid"; do
		if ((SECONDS >= deadline)); then
			log "$name (pid $pid) ignored SIG$sig for 30s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 5))
			sig=KILL
		fi
		sleep 0.05
	done
}

stop_servers() {
	stop_server samba TERM
	# SIGINT is PostgreSQL's fast shutdown (what pg_ctl stop -m fast sends).
	stop_server postgres INT
	stop_server ldap TERM
	stop_server redis TERM
}

stop_all() {
	[[ -d $STATE ]] || return 0
	stop_servers
	local extra f
	for f in home sockdir; do
		extra=$(cat "$STATE/postgres/$f" 2>/dev/null) || continue
		[[ $extra == "${TMPDIR:-/tmp}"/dirsync-testenv-pg* ]] && rm -rf "$extra"
	done
	rm -rf "$STATE"
}

# shq VALUE: VALUE in single quotes, readable by any POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_env() {
	local tmp=$ENV_FILE.tmp old_umask
	old_umask=$(umask)
	umask 077 # the file holds the LDAP and AD passwords
	local kvs=(
		"DIRSYNC_TEST_REDIS_ADDR=$REDIS_ADDR"
		"DIRSYNC_TEST_LDAP_URL=$LDAP_URL"
		"DIRSYNC_TEST_LDAPS_URL=$LDAPS_URL"
		"DIRSYNC_TEST_LDAP_CA_FILE=$LDAP_CA_FILE"
		"DIRSYNC_TEST_LDAP_BASE_DN=$LDAP_BASE_DN"
		"DIRSYNC_TEST_LDAP_BIND_DN=$LDAP_BIND_DN"
		"DIRSYNC_TEST_LDAP_PASSWORD=$LDAP_PASSWORD"
		"DIRSYNC_TEST_PG_DSN=$PG_DSN"
		"DIRSYNC_TEST_POSTFIX=$POSTFIX"
		"DIRSYNC_CHROMIUM=$CHROMIUM"
	)
	((SAMBA_STARTED)) && kvs+=(
		"DIRSYNC_TEST_AD_URL=$AD_URL"
		"DIRSYNC_TEST_ADS_URL=$ADS_URL"
		"DIRSYNC_TEST_AD_CA_FILE=$AD_CA_FILE"
		"DIRSYNC_TEST_AD_BASE_DN=$AD_BASE_DN"
		"DIRSYNC_TEST_AD_BIND_DN=$AD_BIND_DN"
		"DIRSYNC_TEST_AD_PASSWORD=$AD_PASSWORD"
		"DIRSYNC_TEST_AD_ADMIN_DN=$AD_ADMIN_DN"
		"DIRSYNC_TEST_AD_ADMIN_PASSWORD=$AD_ADMIN_PASSWORD"
		"DIRSYNC_TEST_AD_TESTS_OU=$AD_TESTS_OU"
	)
	{
		echo "# Generated by scripts/testenv.sh start; removed by scripts/testenv.sh stop."
		local kv
		for kv in "${kvs[@]}"; do
			printf 'export %s=%s\n' "${kv%%=*}" "$(shq "${kv#*=}")"
		done
	} >"$tmp"
	umask "$old_umask"
	mv "$tmp" "$ENV_FILE"
}

START_DONE=0
on_start_exit() {
	((START_DONE)) && return 0
	# Stop what did come up; keep the logs for the error message above.
	stop_servers
	log "start failed: logs kept in $STATE; scripts/testenv.sh stop removes them"
}

# start_env: sets REUSED=1 when a running set was found.
REUSED=0
start_env() {
	lock
	if running; then
		REUSED=1
		# A set started before Postfix or Chromium joined: install them and
		# name them in env.sh rather than restart servers someone may be using.
		if postfix_env_missing || ! grep -q '^export DIRSYNC_CHROMIUM=' "$ENV_FILE"; then
			install_packages
			postfix_env_missing && printf 'export DIRSYNC_TEST_POSTFIX=%s\n' "$(shq "$POSTFIX")" >>"$ENV_FILE"
			grep -q '^export DIRSYNC_CHROMIUM=' "$ENV_FILE" || printf 'export DIRSYNC_CHROMIUM=%s\n' "$(shq "$CHROMIUM")" >>"$ENV_FILE"
		fi
		unlock
		log "reusing the servers already started in $STATE"
		summary
		return 0
	fi
	if [[ -d $STATE ]]; then
		log "removing a stale or incomplete $STATE"
		stop_all
	fi
	samba_preflight
	install_packages
	mkdir -p "$STATE"
	trap on_start_exit EXIT
	make_ca "$STATE/tls"
	start_redis
	start_ldap
	start_postgres
	if samba_wanted; then start_samba; fi
	write_env
	START_DONE=1
	trap - EXIT
	unlock
	summary
}

cmd_start() { start_env; }

cmd_stop() {
	lock
	stop_all
	unlock
}

cmd_env() {
	[[ -f $ENV_FILE ]] || die "no test servers running here: run scripts/testenv.sh start"
	echo "$ENV_FILE"
}

cmd_run() {
	[[ ${1:-} == -- ]] && shift
	(($#)) || die "usage: scripts/testenv.sh run -- CMD [ARG...]"
	start_env
	if ((!REUSED)); then
		trap 'cmd_stop' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
	set -a
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	set +a
	local rc=0
	"$@" || rc=$?
	exit "$rc"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SCRIPT" >&2
	exit 2
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
env) shift; cmd_env "$@" ;;
run) shift; cmd_run "$@" ;;
*) usage ;;
esac
