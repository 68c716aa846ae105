#!/bin/bash
# meshctl up --count 160 vs a sequential docker run loop; RSS; image size.
set -u
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
M=target/x86_64-unknown-linux-gnu/release/meshctl
N=b160
$M --name $N down >/dev/null 2>&1
start=$(date +%s.%N)
$M --name $N up --count 160 --max-count 160 --format json > $TMP/b160-up.json 2>$TMP/b160-up.err || { echo "up failed"; cat $TMP/b160-up.err; }
end=$(date +%s.%N)
echo "up_wall_secs $(echo "$end - $start" | bc)"
python3 -c "import json;d=json.load(open('$TMP/b160-up.json'));print('up_started_secs',round(d['started_secs'],1),'up_ready_secs',round(d['ready_secs'],1))"
sleep 20
# RSS per peer from /proc of each container's init process
for id in $(docker ps -q --filter label=meshctl.deployment=$N --filter label=meshctl.role=peer); do
  pid=$(docker inspect -f '{{.State.Pid}}' $id); grep VmRSS /proc/$pid/status | awk '{print $2}'
done | sort -n > $TMP/b160-rss.txt
python3 -c "
v=[int(x) for x in open('$TMP/b160-rss.txt')]
v.sort(); n=len(v)
print('rss_kib n=%d min=%d median=%d max=%d'%(n,v[0],v[n//2],v[-1]))"
docker image inspect -f '{{.Size}}' peer-node:latest | awk '{printf "peer_image_bytes %d (%.1f MB)\n",$1,$1/1e6}'
docker image inspect -f '{{.Size}}' meshctl-control:latest | awk '{printf "control_image_bytes %d (%.1f MB)\n",$1,$1/1e6}'
# Same 160 peers started by a sequential docker run loop on the same network and control plane.
TOKEN=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' $N-tracker | sed -n 's/^MESH_TOKEN=//p')
TRACKER=$(python3 -c "import json;print(json.load(open('$TMP/b160-up.json'))['endpoints']['tracker_url'])")
docker rm -f $(docker ps -aq --filter label=meshctl.deployment=$N --filter label=meshctl.role=peer) >/dev/null
until [ "$(curl -s $TRACKER/peers | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["peers"]))')" = 0 ]; do sleep 1; done
start=$(date +%s.%N)
for i in $(seq 1 160); do
  docker run -d --name seq-peer-$i --label meshctl.deployment=$N --label meshctl.role=peer --network $N-micro-net --network-alias peer-$i \
    --memory 15m --memory-swap 15m --cpus 0.25 --restart no -p 127.0.0.1::8080 \
    -e PEER_ID=peer-$i -e NEIGHBORS=$(python3 -c "import json;print('')") -e TRACKER_URL=http://tracker:7070 -e SIGNAL_URL=ws://signalling:7080/ws \
    -e MESH_TOKEN=$TOKEN -e HEARTBEAT_INTERVAL_SEC=30 peer-node:latest >/dev/null
done
started=$(date +%s.%N)
until [ "$(curl -s $TRACKER/peers | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["peers"]))')" = 160 ]; do sleep 0.3; done
end=$(date +%s.%N)
echo "loop_started_secs $(echo "$started - $start" | bc) loop_announced_secs $(echo "$end - $start" | bc)"
$M --name $N down
