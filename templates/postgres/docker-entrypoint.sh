#!/usr/bin/env bash
# Entrypoint of meshctl's offline PostgreSQL image (meshctl/postgres:15), built
# from Debian packages where the official postgres image cannot be pulled. It
# keeps the official image's contract:
#   POSTGRES_PASSWORD          required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name, default postgres
#   POSTGRES_DB                database created at init, default $POSTGRES_USER
#   POSTGRES_HOST_AUTH_METHOD  auth for network connections, default scram-sha-256
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   PGDATA                     default /var/lib/postgresql/data
#   /docker-entrypoint-initdb.d/*.sql, *.sql.gz, *.sh   run once, at init
# `IMAGE -c key=value ...` and `IMAGE postgres -c key=value ...` start postgres
# with those settings; any other command runs as given.
set -Eeuo pipefail

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# Debian's /usr/bin/psql is a perl wrapper that wants a cluster registry; the
# real binaries come first.
export PATH="$pg_bin:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "${1:-}" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 700 "$PGDATA"
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	export HOME=/var/lib/postgresql
	# exec twice (setpriv, then this script) so postgres ends up as PID 1 and
	# receives docker's stop signal itself.
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	POSTGRES_USER="${POSTGRES_USER:-postgres}"
	POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		cat >&2 <<-'MSG'
			error: the database is uninitialized and POSTGRES_PASSWORD is not set.
			       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow
			       every connection without a password, which is not recommended).
		MSG
		exit 1
	fi

	# Local (unix socket) connections are trusted, as in the official image,
	# so the init scripts below need no password; network ones use $auth.
	initdb_args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth" -D "$PGDATA")
	# shellcheck disable=SC2206 # word splitting is the contract of POSTGRES_INITDB_ARGS
	initdb_args+=(${POSTGRES_INITDB_ARGS:-})
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		# The password reaches initdb through a pipe, never a file or argv;
		# the pipe lives only as long as this one command.
		initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD")
	else
		initdb "${initdb_args[@]}"
	fi

	{
		echo
		echo "listen_addresses = '*'"
	} >>"$PGDATA/postgresql.conf"
	{
		echo
		echo "host all all all $auth"
	} >>"$PGDATA/pg_hba.conf"

	# A server on the unix socket only, so nobody connects before init is done.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sh)
			echo "$0: running $f"
			if [ -x "$f" ]; then "$f"; else
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			echo "$0: running $f"
			"${psql[@]}" --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			echo "$0: running $f"
			gzip -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB"
			;;
		*) echo "$0: ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "$0: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
