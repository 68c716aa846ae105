#!/bin/bash
# meshctl up --count 160 beside the Engine's own pace: the same 160 peer
# containers (image, env, labels, limits, networks, published port) started
# by `docker run` eight at a time. Also peer RSS and image sizes.
#
#   cargo build --release --workspace --bins && benchmarks/meshctl-bench.sh
#
# The parallel run's commands are written out before it is timed, so the
# comparison carries no work of this script's own; readiness is the
# tracker listing all 160 peers, as `up` waits for.
set -u
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
M=target/x86_64-unknown-linux-gnu/release/meshctl
N=${N:-bench160}
COUNT=${COUNT:-160}
now() { date +%s.%N; }
live() { curl -s "$1/peers" | grep -o '"peer_id"' | wc -l; }

$M --name $N down >/dev/null 2>&1
start=$(now)
$M --name $N up --count $COUNT --max-count $COUNT --format json > $TMP/up.json 2>$TMP/up.err || { echo "up failed"; cat $TMP/up.err; exit 1; }
up_secs=$(echo "$(now) - $start" | bc)
echo "up_wall_secs $up_secs"
TRACKER=$(grep -o '"tracker_url": *"[^"]*"' $TMP/up.json | sed 's/.*"\(http[^"]*\)"/\1/')
sleep 10
for id in $(docker ps -q --filter label=meshctl.deployment=$N --filter label=meshctl.role=peer); do
  pid=$(docker inspect -f '{{.State.Pid}}' $id); grep VmRSS /proc/$pid/status | awk '{print $2}'
done | sort -n > $TMP/rss.txt
awk '{v[NR]=$1} END {printf "peer_rss_kib n=%d min=%d median=%d max=%d\n", NR, v[1], v[int((NR+1)/2)], v[NR]}' $TMP/rss.txt
docker image inspect -f '{{.Size}}' peer-node:latest | awk '{printf "peer_image_bytes %d (%.1f MB)\n",$1,$1/1e6}'
docker image inspect -f '{{.Size}}' meshctl-control:latest | awk '{printf "control_image_bytes %d (%.1f MB)\n",$1,$1/1e6}'

# The same peers as `docker run` commands, from the Engine's view of them.
for id in $(docker ps -q --filter label=meshctl.deployment=$N --filter label=meshctl.role=peer); do
  docker inspect -f '{{.Name}}|{{.Config.Image}}|{{.HostConfig.Memory}}|{{.HostConfig.MemorySwap}}|{{.HostConfig.NanoCpus}}|{{range $k,$v := .Config.Labels}}--label {{$k}}={{$v}} {{end}}|{{range .Config.Env}}-e {{.}} {{end}}|{{range $k,$v := .NetworkSettings.Networks}}{{$k}} {{end}}' $id
done > $TMP/peers.txt
: > $TMP/run.txt; : > $TMP/connect.txt
while IFS='|' read -r name image mem swap cpus labels envs nets; do
  name=${name#/}; set -- $nets; first=$1; shift
  alias=${name#$N-}
  echo "docker run -d --name $name $labels $envs --network $first --network-alias $alias --memory $mem --memory-swap $swap --cpus $(echo "scale=2; $cpus/1000000000" | bc) --restart no -p 127.0.0.1::8080 $image" >> $TMP/run.txt
  for n in "$@"; do echo "docker network connect --alias $alias $n $name" >> $TMP/connect.txt; done
done < $TMP/peers.txt
docker rm -f $(docker ps -aq --filter label=meshctl.deployment=$N --filter label=meshctl.role=peer) >/dev/null
$M --name $N restart redis >/dev/null   # the tracker forgets them at once
until [ "$(live $TRACKER)" = 0 ]; do sleep 0.5; done
start=$(now)
xargs -P 8 -I{} sh -c '{} >/dev/null' < $TMP/run.txt
xargs -P 8 -I{} sh -c '{} >/dev/null' < $TMP/connect.txt
started=$(now)
until [ "$(live $TRACKER)" = "$COUNT" ]; do sleep 0.3; done
par_secs=$(echo "$(now) - $start" | bc)
echo "parallel_started_secs $(echo "$started - $start" | bc) parallel_announced_secs $par_secs"
echo "up_over_parallel $(echo "scale=2; $up_secs / $par_secs" | bc)"
$M --name $N down >/dev/null
