#compdef meshctl

autoload -U is-at-least

_meshctl() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_meshctl_commands" \
"*::: :->meshctl" \
&& ret=0
    case $state in
    (meshctl)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-command-$line[1]:"
        case $line[1] in
            (up)
_arguments "${_arguments_options[@]}" : \
'-f+[Mesh file (YAML) with any of these settings, links and per-peer overrides; flags and env override it]:FILE:_files' \
'--file=[Mesh file (YAML) with any of these settings, links and per-peer overrides; flags and env override it]:FILE:_files' \
'--count=[Number of peers \[default\: 160\]]:COUNT:_default' \
'--max-count=[Upper bound on --count \[default\: 160\]]:MAX_COUNT:_default' \
'--prefix=[Peer name prefix (peer-1, peer-2, ...) \[default\: peer\]]:PREFIX:_default' \
'--peer-network=[The mesh network \[default\: micro-net\]]:PEER_NETWORK:_default' \
'--edge1-network=[Edge A'\''s network \[default\: edge-a-net\]]:EDGE1_NETWORK:_default' \
'--edge2-network=[Edge B'\''s network \[default\: edge-b-net\]]:EDGE2_NETWORK:_default' \
'--origin-network=[The network of origin-db and both edge databases \[default\: origin-net\]]:ORIGIN_NETWORK:_default' \
'--edge1-peers=[Peers joined to edge A, comma-separated (unset\: the first few)]:EDGE1_PEERS:_default' \
'--edge2-peers=[Peers joined to edge B, comma-separated (unset\: a few from the middle)]:EDGE2_PEERS:_default' \
'--image=[The peer image, built from mesh-agent \[default\: peer-node\:latest\]]:IMAGE:_default' \
'--control-image=[The control-plane image \[default\: meshctl-control\:latest\]]:CONTROL_IMAGE:_default' \
'--postgres-db=[Database name \[default\: songs\]]:POSTGRES_DB:_default' \
'--postgres-user=[Database user \[default\: mesh\]]:POSTGRES_USER:_default' \
'--postgres-password=[Database password (unset\: generated once per deployment, kept in its containers)]:POSTGRES_PASSWORD:_default' \
'--token=[Bearer token for control-plane writes and peer ingest (unset\: generated once per deployment)]:TOKEN:_default' \
'--tracker-url=[Tracker URL as peers see it \[default\: http\://tracker\:7070\]]:TRACKER_URL:_default' \
'--signal-url=[Signalling URL as peers see it \[default\: ws\://signalling\:7080/ws\]]:SIGNAL_URL:_default' \
'--peer-room=[Room of every peer not overridden in the mesh file \[default\: default\]]:PEER_ROOM:_default' \
'--peer-region=[Region of every peer not overridden in the mesh file \[default\: default\]]:PEER_REGION:_default' \
'--peer-rtt-ms=[Round-trip time a peer reports, milliseconds \[default\: 50\]]:PEER_RTT_MS:_default' \
'--cache-capacity=[Cache entries per peer \[default\: 64\]]:CACHE_CAPACITY:_default' \
'--heartbeat-interval=[Seconds between heartbeats \[default\: 30\]]:HEARTBEAT_INTERVAL_SEC:_default' \
'--tracker-ttl=[Seconds without a heartbeat before the tracker drops a peer \[default\: 120\]]:TRACKER_TTL:_default' \
'--peer-memory=[Hard memory limit per peer, no swap (15m = 15 MiB) \[default\: 15m\]]:PEER_MEMORY:_default' \
'--peer-cpus=[CPUs per peer, 0 for no limit \[default\: 0.25\]]:PEER_CPUS:_default' \
'--degree=[Neighbors per peer in the generated mesh; 0 takes the file'\''s links alone \[default\: 4\]]:DEGREE:_default' \
'--seed=[Seed of the generated mesh\: the same seed gives the same mesh \[default\: 1\]]:SEED:_default' \
'*--label=[Extra label for every object, KEY=VALUE (repeatable); replaces the file'\''s labels]:KEY=VALUE:_default' \
'--max-workers=[Containers created and started at once]:MAX_WORKERS:_default' \
'--wait-timeout=[Seconds to wait for every peer to announce]:WAIT_TIMEOUT:_default' \
'--format=[]:FORMAT:((table\:""
json\:""
yaml\:"A mesh file reproducing the plan (with --dry-run)"))' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--no-wait[Return once everything started, without waiting for announces]' \
'--dry-run[Print the resolved plan and change nothing]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(table json)' \
'--max-workers=[Containers inspected at once (stats samples are all asked at once\: the Engine answers them together at its next tick)]:MAX_WORKERS:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--networks[Also list the deployment'\''s networks and their members (the spec'\''s \`docker network inspect\`)]' \
'--no-stats[Skip Docker stats (memory, CPU)\: faster on large meshes]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(graph)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(dot json mermaid)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(down)
_arguments "${_arguments_options[@]}" : \
'--max-workers=[Containers removed at once]:MAX_WORKERS:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--keep-control[Leave the control plane (and its network) running]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
'--tail=[Only the last N lines]:TAIL:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-f[Keep printing new lines]' \
'--follow[Keep printing new lines]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':target -- The component name (`peer-3`, `edge-db-a`, `tracker`) or container name:_default' \
&& ret=0
;;
(events)
_arguments "${_arguments_options[@]}" : \
'--since=[How far back to start\: 30s, 5m, 1h30m, 2d (a bare number is seconds)]:SINCE:_default' \
'--format=[\`table\`\: aligned lines for people; \`json\`\: one object per line (JSON Lines) with at, at_ms, source, kind, target and the details]:FORMAT:(table json)' \
'--poll-ms=[Milliseconds between polls of the services'\'' feeds while following]:POLL_MS:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-f[Keep printing new events until Ctrl-C]' \
'--follow[Keep printing new events until Ctrl-C]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(image)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_meshctl__subcmd__image_commands" \
"*::: :->image" \
&& ret=0

    case $state in
    (image)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-image-command-$line[1]:"
        case $line[1] in
            (save)
_arguments "${_arguments_options[@]}" : \
'-o+[The archive to write]:OUTPUT:_files' \
'--output=[The archive to write]:OUTPUT:_files' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::images -- Image references:_default' \
&& ret=0
;;
(load)
_arguments "${_arguments_options[@]}" : \
'-i+[The archive to read]:INPUT:_files' \
'--input=[The archive to read]:INPUT:_files' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__image__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-image-help-command-$line[1]:"
        case $line[1] in
            (save)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(load)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(legacy)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_meshctl__subcmd__legacy_commands" \
"*::: :->legacy" \
&& ret=0

    case $state in
    (legacy)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-legacy-command-$line[1]:"
        case $line[1] in
            (up)
_arguments "${_arguments_options[@]}" : \
'--count=[]:COUNT:_default' \
'--memory=[Hard memory limit per container, no swap]:MEMORY:_default' \
'--cpus=[CPUs per container, 0 for no limit]:CPUS:_default' \
'--max-workers=[]:MAX_WORKERS:_default' \
'*--label=[Extra label for every object, KEY=VALUE (repeatable)]:KEY=VALUE:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(down)
_arguments "${_arguments_options[@]}" : \
'--max-workers=[]:MAX_WORKERS:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__legacy__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-legacy-help-command-$line[1]:"
        case $line[1] in
            (up)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(down)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(publish)
_arguments "${_arguments_options[@]}" : \
'--song=[The song'\''s name\: letters, digits, '\''-'\'' and '\''_'\'']:SONG:_default' \
'--timeout=[Seconds to wait for the databases and for replication to both edges]:TIMEOUT:_default' \
'--format=[\`table\` (lines for people) or \`json\`]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':source -- An audio file (anything ffmpeg reads) or a folder holding one HLS media playlist with MPEG-TS segments (or that playlist itself):_files' \
&& ret=0
;;
(play)
_arguments "${_arguments_options[@]}" : \
'--peer=[The peer to play through; default the last running peer without an edge database (usually far from both edges)]:PEER:_default' \
'--speed=[ffmpeg reads at this many times real time (\`-readrate\`), like a listener; default\: as fast as it can]:SPEED:_default' \
'--request-timeout=[Seconds for each request through the proxy, failovers included (one peer gets at most a third of it)]:REQUEST_TIMEOUT:_default' \
'--timeout=[Seconds for the whole play]:TIMEOUT:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--failover[After a failed request (refused, cut, timed out, 5xx) ask the peer'\''s mesh neighbours, one after another, at once (the default)]' \
'--no-failover[Every request goes to the one peer; its failures reach ffmpeg]' \
'--master[Play the peer'\''s master playlist (\`/songs/<song>/master.m3u8\`\: the peer, then its live neighbours, as redundant streams) by its mesh address, through the proxy as ffmpeg'\''s \`http_proxy\`]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':song:_default' \
&& ret=0
;;
(stats)
_arguments "${_arguments_options[@]}" : \
'--song=[Only this song (the total still covers every song)]:SONG:_default' \
'--timeout=[Seconds for each peer'\''s answer]:TIMEOUT:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(bench)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_meshctl__subcmd__bench_commands" \
"*::: :->bench" \
&& ret=0

    case $state in
    (bench)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-bench-command-$line[1]:"
        case $line[1] in
            (swarm)
_arguments "${_arguments_options[@]}" : \
'--song=[]:SONG:_default' \
'--listeners=[Listeners; default one per running peer (listener i uses peer i mod peers)]:LISTENERS:_default' \
'--spread=[Seconds over which the listeners'\'' starts are spread at random]:SPREAD:_default' \
'--retries=[Further attempts at a failed or corrupt segment, as a player would]:RETRIES:_default' \
'--request-timeout=[Seconds for each request]:REQUEST_TIMEOUT:_default' \
'--speed=[Pace each listener like a player at this many times real time (3 segments ahead of the playhead); default\: as fast as it can]:SPEED:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--failover[After a failed request, a listener asks the next of its peer'\''s mesh neighbours, as a player with backup streams does]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(churn)
_arguments "${_arguments_options[@]}" : \
'--song=[]:SONG:_default' \
'--listeners=[Listeners; default one per running peer]:LISTENERS:_default' \
'--spread=[Seconds over which the listeners'\'' starts are spread at random]:SPREAD:_default' \
'--retries=[Further attempts at a failed or corrupt segment, each after a pause (--retry-pause)]:RETRIES:_default' \
'--retry-pause=[Seconds before the k-th further attempt\: k times this, as players back off (4 retries at 0.5 s wait 5 s in all, about one segment at 2×)]:RETRY_PAUSE:_default' \
'--request-timeout=[Seconds for each request]:REQUEST_TIMEOUT:_default' \
'--speed=[Pace each listener like a player at this many times real time (3 segments ahead of the playhead), so faults hit a playing swarm]:SPEED:_default' \
'--kill=[Take down this many live peers each round\: a count or a share (10%)]:N|P%:_default' \
'--every=[Time between rounds of --kill]:EVERY:_default' \
'--kill-from=[First round of --kill, from the start]:KILL_FROM:_default' \
'--mode=[How --kill takes peers down]:MODE:(kill stop pause)' \
'--restart-after=[Bring each peer taken down back after this long (else when the swarm ends)]:RESTART_AFTER:_default' \
'*--except=[Leave out of --kill\: \`edge-peers\` or a peer; repeatable]:edge-peers|PEER:_default' \
'*--restart=[Restart these one after another (comma-separated\: redis, tracker, signalling, topology, edge-db-a, ...)]:RESTART:_default' \
'--restart-at=[First restart, from the start]:RESTART_AT:_default' \
'--restart-gap=[Time between restarts]:RESTART_GAP:_default' \
'*--partition-around=[Partition the mesh around this edge database (repeatable) for a window]:EDGE-DB:_default' \
'--partition-random=[Partition a random group of this many peers from the rest]:N|P%:_default' \
'--partition-at=[When the partition starts]:PARTITION_AT:_default' \
'--partition-for=[How long it holds before heal]:PARTITION_FOR:_default' \
'--seed=[Seed of every random choice (printed when not given)]:SEED:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--no-failover[Listeners stay on their own peer (no failover to its neighbours)]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__bench__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-bench-help-command-$line[1]:"
        case $line[1] in
            (swarm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(churn)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(netem)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_meshctl__subcmd__netem_commands" \
"*::: :->netem" \
&& ret=0

    case $state in
    (netem)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-netem-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
'*--to=[Only the links to these neighbours (repeat or comma-separate)]:TO:_default' \
'--delay=[Added delay (\`80ms\`, \`1s\`, \`500us\`)]:DELAY:_default' \
'--jitter=[Delay variation (\`10ms\`); needs --delay]:JITTER:_default' \
'--loss=[Packets dropped (\`2%\`)]:LOSS:_default' \
'--rate=[Bandwidth (\`1mbit\`, \`500kbit\`, \`100kbps\` for bytes)]:RATE:_default' \
'--corrupt=[Packets corrupted (\`0.1%\`)]:CORRUPT:_default' \
'--duplicate=[Packets duplicated (\`1%\`)]:DUPLICATE:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--one-way[Shape only this peer'\''s side of each --to link]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':peer -- The peer (`peer-3`):_default' \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'::peer -- Only this peer (every running peer when absent):_default' \
&& ret=0
;;
(reset)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--all[Every running peer of the deployment]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'::peer -- The peer:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__netem__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-netem-help-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reset)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(partition)
_arguments "${_arguments_options[@]}" : \
'--random=[One more group of this many random peers\: a count (\`8\`) or a share (\`25%\`)]:N|P%:_default' \
'*--around=[One more group\: the peers nearest this edge database by mesh hops (\`edge-db-a\`); repeatable. \`--around edge-db-a\` on a deployment with two edges cuts the mesh into halves that each keep an edge]:EDGE-DB:_default' \
'--seed=[Seed of --random (printed when not given)]:SEED:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::groups -- Groups, each a comma-separated list of peers (`peer-1,peer-2 peer-3,peer-4`):_default' \
&& ret=0
;;
(isolate)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':peer -- The peer (`peer-3`):_default' \
&& ret=0
;;
(heal)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'--all[Also restart killed or stopped containers and unpause paused ones]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
':shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--timeout=[Seconds to wait after SIGTERM before SIGKILL]:SECONDS:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(start)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(pause)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(unpause)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(restart)
_arguments "${_arguments_options[@]}" : \
'--random=[Also pick this many at random\: a count (\`3\`) or a share (\`25%\`)]:N|P%:_default' \
'--role=[What --random picks from]:ROLE:(peer control db)' \
'--seed=[Seed of --random\: the same seed on the same deployment picks the same targets (printed when not given)]:SEED:_default' \
'*--except=[Leave out of --random\: \`edge-peers\` (peers reading an edge database) or a target; repeatable]:edge-peers|TARGET:_default' \
'--format=[]:FORMAT:(table json)' \
'--timeout=[Seconds to wait after SIGTERM before SIGKILL]:SECONDS:_default' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
'*::targets -- Peers (`peer-7`), control services (`redis`, `tracker`, `topology`, `signalling`) or databases (`origin-db`, `edge-db-a`, `edge-db-b`) of the deployment:_default' \
&& ret=0
;;
(faults)
_arguments "${_arguments_options[@]}" : \
'--format=[]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(churn)
_arguments "${_arguments_options[@]}" : \
'--rate=[Live peers taken down each round\: a count (\`2\`) or a share (\`10%\`)]:N|P%:_default' \
'--interval=[Time between rounds (\`5s\`, \`500ms\`, \`1m\`)]:INTERVAL:_default' \
'--duration=[How long the churn runs]:DURATION:_default' \
'--seed=[Seed of the picks\: the same seed repeats the same choices on the same deployment state (printed when not given)]:SEED:_default' \
'--restart-after=[Bring each peer back this long after it went down (also every peer still down at the end)]:RESTART_AFTER:_default' \
'--mode=[What happens to a picked peer]:MODE:(kill stop pause)' \
'*--except=[Leave out\: \`edge-peers\` or a peer; repeatable]:edge-peers|PEER:_default' \
'--format=[One JSON object per action (JSON lines) instead of text]:FORMAT:(table json)' \
'--name=[The deployment to act on\: every object carries its name, and status, graph and down touch only their own \[default\: mesh\]]:NAME:_default' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-help-command-$line[1]:"
        case $line[1] in
            (up)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(graph)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(down)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(events)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(image)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__help__subcmd__image_commands" \
"*::: :->image" \
&& ret=0

    case $state in
    (image)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-help-image-command-$line[1]:"
        case $line[1] in
            (save)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(load)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(legacy)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__help__subcmd__legacy_commands" \
"*::: :->legacy" \
&& ret=0

    case $state in
    (legacy)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-help-legacy-command-$line[1]:"
        case $line[1] in
            (up)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(down)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(publish)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(play)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stats)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(bench)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__help__subcmd__bench_commands" \
"*::: :->bench" \
&& ret=0

    case $state in
    (bench)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-help-bench-command-$line[1]:"
        case $line[1] in
            (swarm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(churn)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(netem)
_arguments "${_arguments_options[@]}" : \
":: :_meshctl__subcmd__help__subcmd__netem_commands" \
"*::: :->netem" \
&& ret=0

    case $state in
    (netem)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:meshctl-help-netem-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reset)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(partition)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(isolate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(heal)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(kill)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(start)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pause)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(unpause)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(restart)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(faults)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(churn)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_meshctl_commands] )) ||
_meshctl_commands() {
    local commands; commands=(
'up:Build the images, create the networks, start the databases, the control plane and the peers with hard limits, and wait until every peer has announced and the mesh is connected. Running it again converges' \
'status:Show the control plane (health, live peers, rooms), the databases (replication) and every peer (state, memory against its limit, CPU, heartbeat age, cached segments, degree, edge), each with its active faults (paused, stopped, killed, shaped, partitioned, isolated)' \
'graph:Write the live mesh from the topology service, with databases and edge attachments\: \`meshctl graph > peer_network.dot && dot -Tpng peer_network.dot -o peer_network.png\`' \
'down:Remove the deployment'\''s peers, databases, control plane, networks and volumes. Idempotent; touches nothing of any other deployment' \
'logs:Print a container'\''s logs\: a peer (\`peer-3\`), a database (\`origin-db\`) or a control-plane service (\`tracker\`) of the deployment' \
'events:Print what happened to the deployment, one line per event, in time order' \
'image:Save images to a tar archive and load them elsewhere, without a registry (the Engine API'\''s \`docker save\` / \`docker load\`)' \
'legacy:The legacy launcher\: capped BusyBox-only containers (no agent, no databases)' \
'publish:Publish a song\: cut audio (or an HLS folder) into content-addressed AAC/MPEG-TS segments, store them in origin-db in one transaction, and wait until both edge databases hold them' \
'play:Play a song through a peer with an unmodified ffmpeg behind a recording proxy, and show where each segment came from (cache, peer, edge), over how many hops, which peer answered, and how long it took. When the peer fails, the proxy moves to its mesh neighbours, as a player with backup streams does' \
'stats:Show per song what the mesh carried\: cache hits, relays, edge database reads, origin to edges, and the peer-to-peer ratio against its (N-1)/N ceiling' \
'bench:Load the mesh\: \`bench swarm\` makes every peer play a song at once and reports the p2p ratio, database reads per segment, latency and failures' \
'netem:Shape links\: delay, jitter, loss, rate, corruption, duplication on a peer'\''s mesh interface (Linux \`tc\` and \`iptables\`, applied by a one-shot helper container in the peer'\''s network namespace). Where the kernel has no sch_netem, delay, jitter, corruption and duplication are applied by a \`mesh-shaper\` container per shaped direction (NFQUEUE)' \
'partition:Cut every mesh link between groups of peers (iptables DROP in and out in each peer'\''s namespace, comment \`meshctl-partition\`); \`meshctl heal\` removes it. The running peers in no group form one more group, so \`partition peer-1,peer-2\` cuts those two off from the rest' \
'isolate:Cut a peer off the mesh network without stopping it\: all its traffic on the peer network is dropped, in and out (comment \`meshctl-isolate\`); \`meshctl heal\` removes it' \
'heal:Remove every shaping and partition rule from every running peer of the deployment (read from the kernels, so it also cleans up after an interrupted meshctl), the shaper containers and any leftover helper container; with \`--all\`, first start what was killed or stopped and unpause what was paused, so the deployment is back to its planned state' \
'completions:Print shell completions (bash, zsh, fish); the generated scripts are kept in completions/' \
'kill:Kill peers, control services or databases of the deployment at once (SIGKILL); \`meshctl start\` brings them back' \
'stop:Stop peers, control services or databases of the deployment gracefully (SIGTERM, then SIGKILL after --timeout)' \
'start:Start stopped or killed peers, control services or databases of the deployment' \
'pause:Freeze peers, control services or databases of the deployment (their processes stop being scheduled; connections stay open)' \
'unpause:Thaw paused peers, control services or databases of the deployment' \
'restart:Restart peers, control services or databases of the deployment (stop, then start; a stopped one is started)' \
'faults:List every active fault of the deployment, read back from the Engine and the peers'\'' kernels\: paused containers; peers, control services or databases that are not running (how they ended, and when); shaped links, partitions and isolated peers' \
'churn:Take down a random share of the live peers at each interval (kill, stop or pause) and optionally bring each back after a while, printing every action as it happens. Ends after --duration; Ctrl-C ends it early and brings back what it took down' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench_commands] )) ||
_meshctl__subcmd__bench_commands() {
    local commands; commands=(
'swarm:N listeners play one song at once, each through its own peer' \
'churn:The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener'\''s own peer stayed up' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl bench commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__churn_commands] )) ||
_meshctl__subcmd__bench__subcmd__churn_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl bench churn commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__help_commands] )) ||
_meshctl__subcmd__bench__subcmd__help_commands() {
    local commands; commands=(
'swarm:N listeners play one song at once, each through its own peer' \
'churn:The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener'\''s own peer stayed up' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl bench help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__help__subcmd__churn_commands] )) ||
_meshctl__subcmd__bench__subcmd__help__subcmd__churn_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl bench help churn commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__help__subcmd__help_commands] )) ||
_meshctl__subcmd__bench__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl bench help help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__help__subcmd__swarm_commands] )) ||
_meshctl__subcmd__bench__subcmd__help__subcmd__swarm_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl bench help swarm commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__bench__subcmd__swarm_commands] )) ||
_meshctl__subcmd__bench__subcmd__swarm_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl bench swarm commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__churn_commands] )) ||
_meshctl__subcmd__churn_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl churn commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__completions_commands] )) ||
_meshctl__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl completions commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__down_commands] )) ||
_meshctl__subcmd__down_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl down commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__events_commands] )) ||
_meshctl__subcmd__events_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl events commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__faults_commands] )) ||
_meshctl__subcmd__faults_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl faults commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__graph_commands] )) ||
_meshctl__subcmd__graph_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl graph commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__heal_commands] )) ||
_meshctl__subcmd__heal_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl heal commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help_commands] )) ||
_meshctl__subcmd__help_commands() {
    local commands; commands=(
'up:Build the images, create the networks, start the databases, the control plane and the peers with hard limits, and wait until every peer has announced and the mesh is connected. Running it again converges' \
'status:Show the control plane (health, live peers, rooms), the databases (replication) and every peer (state, memory against its limit, CPU, heartbeat age, cached segments, degree, edge), each with its active faults (paused, stopped, killed, shaped, partitioned, isolated)' \
'graph:Write the live mesh from the topology service, with databases and edge attachments\: \`meshctl graph > peer_network.dot && dot -Tpng peer_network.dot -o peer_network.png\`' \
'down:Remove the deployment'\''s peers, databases, control plane, networks and volumes. Idempotent; touches nothing of any other deployment' \
'logs:Print a container'\''s logs\: a peer (\`peer-3\`), a database (\`origin-db\`) or a control-plane service (\`tracker\`) of the deployment' \
'events:Print what happened to the deployment, one line per event, in time order' \
'image:Save images to a tar archive and load them elsewhere, without a registry (the Engine API'\''s \`docker save\` / \`docker load\`)' \
'legacy:The legacy launcher\: capped BusyBox-only containers (no agent, no databases)' \
'publish:Publish a song\: cut audio (or an HLS folder) into content-addressed AAC/MPEG-TS segments, store them in origin-db in one transaction, and wait until both edge databases hold them' \
'play:Play a song through a peer with an unmodified ffmpeg behind a recording proxy, and show where each segment came from (cache, peer, edge), over how many hops, which peer answered, and how long it took. When the peer fails, the proxy moves to its mesh neighbours, as a player with backup streams does' \
'stats:Show per song what the mesh carried\: cache hits, relays, edge database reads, origin to edges, and the peer-to-peer ratio against its (N-1)/N ceiling' \
'bench:Load the mesh\: \`bench swarm\` makes every peer play a song at once and reports the p2p ratio, database reads per segment, latency and failures' \
'netem:Shape links\: delay, jitter, loss, rate, corruption, duplication on a peer'\''s mesh interface (Linux \`tc\` and \`iptables\`, applied by a one-shot helper container in the peer'\''s network namespace). Where the kernel has no sch_netem, delay, jitter, corruption and duplication are applied by a \`mesh-shaper\` container per shaped direction (NFQUEUE)' \
'partition:Cut every mesh link between groups of peers (iptables DROP in and out in each peer'\''s namespace, comment \`meshctl-partition\`); \`meshctl heal\` removes it. The running peers in no group form one more group, so \`partition peer-1,peer-2\` cuts those two off from the rest' \
'isolate:Cut a peer off the mesh network without stopping it\: all its traffic on the peer network is dropped, in and out (comment \`meshctl-isolate\`); \`meshctl heal\` removes it' \
'heal:Remove every shaping and partition rule from every running peer of the deployment (read from the kernels, so it also cleans up after an interrupted meshctl), the shaper containers and any leftover helper container; with \`--all\`, first start what was killed or stopped and unpause what was paused, so the deployment is back to its planned state' \
'completions:Print shell completions (bash, zsh, fish); the generated scripts are kept in completions/' \
'kill:Kill peers, control services or databases of the deployment at once (SIGKILL); \`meshctl start\` brings them back' \
'stop:Stop peers, control services or databases of the deployment gracefully (SIGTERM, then SIGKILL after --timeout)' \
'start:Start stopped or killed peers, control services or databases of the deployment' \
'pause:Freeze peers, control services or databases of the deployment (their processes stop being scheduled; connections stay open)' \
'unpause:Thaw paused peers, control services or databases of the deployment' \
'restart:Restart peers, control services or databases of the deployment (stop, then start; a stopped one is started)' \
'faults:List every active fault of the deployment, read back from the Engine and the peers'\'' kernels\: paused containers; peers, control services or databases that are not running (how they ended, and when); shaped links, partitions and isolated peers' \
'churn:Take down a random share of the live peers at each interval (kill, stop or pause) and optionally bring each back after a while, printing every action as it happens. Ends after --duration; Ctrl-C ends it early and brings back what it took down' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__bench_commands] )) ||
_meshctl__subcmd__help__subcmd__bench_commands() {
    local commands; commands=(
'swarm:N listeners play one song at once, each through its own peer' \
'churn:The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener'\''s own peer stayed up' \
    )
    _describe -t commands 'meshctl help bench commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__bench__subcmd__churn_commands] )) ||
_meshctl__subcmd__help__subcmd__bench__subcmd__churn_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help bench churn commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__bench__subcmd__swarm_commands] )) ||
_meshctl__subcmd__help__subcmd__bench__subcmd__swarm_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help bench swarm commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__churn_commands] )) ||
_meshctl__subcmd__help__subcmd__churn_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help churn commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__completions_commands] )) ||
_meshctl__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help completions commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__down_commands] )) ||
_meshctl__subcmd__help__subcmd__down_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help down commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__events_commands] )) ||
_meshctl__subcmd__help__subcmd__events_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help events commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__faults_commands] )) ||
_meshctl__subcmd__help__subcmd__faults_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help faults commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__graph_commands] )) ||
_meshctl__subcmd__help__subcmd__graph_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help graph commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__heal_commands] )) ||
_meshctl__subcmd__help__subcmd__heal_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help heal commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__help_commands] )) ||
_meshctl__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__image_commands] )) ||
_meshctl__subcmd__help__subcmd__image_commands() {
    local commands; commands=(
'save:Write images to an archive \[default\: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has\]' \
'load:Load an archive made by \`image save\` (or \`docker save\`)' \
    )
    _describe -t commands 'meshctl help image commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__image__subcmd__load_commands] )) ||
_meshctl__subcmd__help__subcmd__image__subcmd__load_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help image load commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__image__subcmd__save_commands] )) ||
_meshctl__subcmd__help__subcmd__image__subcmd__save_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help image save commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__isolate_commands] )) ||
_meshctl__subcmd__help__subcmd__isolate_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help isolate commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__kill_commands] )) ||
_meshctl__subcmd__help__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help kill commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__legacy_commands] )) ||
_meshctl__subcmd__help__subcmd__legacy_commands() {
    local commands; commands=(
'up:Start COUNT capped BusyBox containers' \
'down:Remove the legacy containers and their network' \
    )
    _describe -t commands 'meshctl help legacy commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__legacy__subcmd__down_commands] )) ||
_meshctl__subcmd__help__subcmd__legacy__subcmd__down_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help legacy down commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__legacy__subcmd__up_commands] )) ||
_meshctl__subcmd__help__subcmd__legacy__subcmd__up_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help legacy up commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__logs_commands] )) ||
_meshctl__subcmd__help__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help logs commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__netem_commands] )) ||
_meshctl__subcmd__help__subcmd__netem_commands() {
    local commands; commands=(
'set:Shape a peer'\''s egress\: all of it, or only the links to \`--to\` peers (both directions of each link unless \`--one-way\`). Replaces what was set before for the same direction' \
'show:Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it' \
'reset:Remove the shaping of a peer (its egress), or of every peer' \
    )
    _describe -t commands 'meshctl help netem commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__netem__subcmd__reset_commands] )) ||
_meshctl__subcmd__help__subcmd__netem__subcmd__reset_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help netem reset commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__netem__subcmd__set_commands] )) ||
_meshctl__subcmd__help__subcmd__netem__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help netem set commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__netem__subcmd__show_commands] )) ||
_meshctl__subcmd__help__subcmd__netem__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help netem show commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__partition_commands] )) ||
_meshctl__subcmd__help__subcmd__partition_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help partition commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__pause_commands] )) ||
_meshctl__subcmd__help__subcmd__pause_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help pause commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__play_commands] )) ||
_meshctl__subcmd__help__subcmd__play_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help play commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__publish_commands] )) ||
_meshctl__subcmd__help__subcmd__publish_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help publish commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__restart_commands] )) ||
_meshctl__subcmd__help__subcmd__restart_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help restart commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__start_commands] )) ||
_meshctl__subcmd__help__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help start commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__stats_commands] )) ||
_meshctl__subcmd__help__subcmd__stats_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help stats commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__status_commands] )) ||
_meshctl__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help status commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__stop_commands] )) ||
_meshctl__subcmd__help__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help stop commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__unpause_commands] )) ||
_meshctl__subcmd__help__subcmd__unpause_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help unpause commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__help__subcmd__up_commands] )) ||
_meshctl__subcmd__help__subcmd__up_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl help up commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image_commands] )) ||
_meshctl__subcmd__image_commands() {
    local commands; commands=(
'save:Write images to an archive \[default\: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has\]' \
'load:Load an archive made by \`image save\` (or \`docker save\`)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl image commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__help_commands] )) ||
_meshctl__subcmd__image__subcmd__help_commands() {
    local commands; commands=(
'save:Write images to an archive \[default\: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has\]' \
'load:Load an archive made by \`image save\` (or \`docker save\`)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl image help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__help__subcmd__help_commands] )) ||
_meshctl__subcmd__image__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl image help help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__help__subcmd__load_commands] )) ||
_meshctl__subcmd__image__subcmd__help__subcmd__load_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl image help load commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__help__subcmd__save_commands] )) ||
_meshctl__subcmd__image__subcmd__help__subcmd__save_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl image help save commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__load_commands] )) ||
_meshctl__subcmd__image__subcmd__load_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl image load commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__image__subcmd__save_commands] )) ||
_meshctl__subcmd__image__subcmd__save_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl image save commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__isolate_commands] )) ||
_meshctl__subcmd__isolate_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl isolate commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__kill_commands] )) ||
_meshctl__subcmd__kill_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl kill commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy_commands] )) ||
_meshctl__subcmd__legacy_commands() {
    local commands; commands=(
'up:Start COUNT capped BusyBox containers' \
'down:Remove the legacy containers and their network' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl legacy commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__down_commands] )) ||
_meshctl__subcmd__legacy__subcmd__down_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl legacy down commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__help_commands] )) ||
_meshctl__subcmd__legacy__subcmd__help_commands() {
    local commands; commands=(
'up:Start COUNT capped BusyBox containers' \
'down:Remove the legacy containers and their network' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl legacy help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__help__subcmd__down_commands] )) ||
_meshctl__subcmd__legacy__subcmd__help__subcmd__down_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl legacy help down commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__help__subcmd__help_commands] )) ||
_meshctl__subcmd__legacy__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl legacy help help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__help__subcmd__up_commands] )) ||
_meshctl__subcmd__legacy__subcmd__help__subcmd__up_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl legacy help up commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__legacy__subcmd__up_commands] )) ||
_meshctl__subcmd__legacy__subcmd__up_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl legacy up commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__logs_commands] )) ||
_meshctl__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl logs commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem_commands] )) ||
_meshctl__subcmd__netem_commands() {
    local commands; commands=(
'set:Shape a peer'\''s egress\: all of it, or only the links to \`--to\` peers (both directions of each link unless \`--one-way\`). Replaces what was set before for the same direction' \
'show:Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it' \
'reset:Remove the shaping of a peer (its egress), or of every peer' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl netem commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__help_commands] )) ||
_meshctl__subcmd__netem__subcmd__help_commands() {
    local commands; commands=(
'set:Shape a peer'\''s egress\: all of it, or only the links to \`--to\` peers (both directions of each link unless \`--one-way\`). Replaces what was set before for the same direction' \
'show:Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it' \
'reset:Remove the shaping of a peer (its egress), or of every peer' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'meshctl netem help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__help__subcmd__help_commands] )) ||
_meshctl__subcmd__netem__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem help help commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__help__subcmd__reset_commands] )) ||
_meshctl__subcmd__netem__subcmd__help__subcmd__reset_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem help reset commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__help__subcmd__set_commands] )) ||
_meshctl__subcmd__netem__subcmd__help__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem help set commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__help__subcmd__show_commands] )) ||
_meshctl__subcmd__netem__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem help show commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__reset_commands] )) ||
_meshctl__subcmd__netem__subcmd__reset_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem reset commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__set_commands] )) ||
_meshctl__subcmd__netem__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem set commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__netem__subcmd__show_commands] )) ||
_meshctl__subcmd__netem__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl netem show commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__partition_commands] )) ||
_meshctl__subcmd__partition_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl partition commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__pause_commands] )) ||
_meshctl__subcmd__pause_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl pause commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__play_commands] )) ||
_meshctl__subcmd__play_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl play commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__publish_commands] )) ||
_meshctl__subcmd__publish_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl publish commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__restart_commands] )) ||
_meshctl__subcmd__restart_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl restart commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__start_commands] )) ||
_meshctl__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl start commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__stats_commands] )) ||
_meshctl__subcmd__stats_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl stats commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__status_commands] )) ||
_meshctl__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl status commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__stop_commands] )) ||
_meshctl__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl stop commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__unpause_commands] )) ||
_meshctl__subcmd__unpause_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl unpause commands' commands "$@"
}
(( $+functions[_meshctl__subcmd__up_commands] )) ||
_meshctl__subcmd__up_commands() {
    local commands; commands=()
    _describe -t commands 'meshctl up commands' commands "$@"
}

if [ "$funcstack[1]" = "_meshctl" ]; then
    _meshctl "$@"
else
    compdef _meshctl meshctl
fi
