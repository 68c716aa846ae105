#!/bin/sh
# Entrypoint of meshctl's offline Redis image (meshctl/redis:7), built from
# Debian packages where the official redis image cannot be pulled. Contract:
# redis-server on 0.0.0.0:6379, protected mode off, no persistence (no RDB
# snapshots, no AOF) unless the arguments ask for it, working directory /data.
#   IMAGE                        redis-server with those defaults
#   IMAGE --maxmemory 8mb ...    the same plus these options (later ones win)
#   IMAGE /path/redis.conf ...   that config file, our defaults not applied
#   IMAGE any-other-command      runs as given
set -eu

case "${1:-}" in
-* | *.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ]; then
	shift
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		conf=$1
		shift
		set -- redis-server "$conf" "$@"
	else
		set -- redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /data "$@"
	fi
	if [ "$(id -u)" = 0 ]; then
		find /data \! -user redis -exec chown redis:redis '{}' +
		export HOME=/data
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi

exec "$@"
