# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_meshctl_global_optspecs
    string join \n name= h/help V/version
end

function __fish_meshctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_meshctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_meshctl_using_subcommand
    set -l cmd (__fish_meshctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c meshctl -n "__fish_meshctl_needs_command" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_needs_command" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_needs_command" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "up" -d 'Build the images, create the networks, start the databases, the control plane and the peers with hard limits, and wait until every peer has announced and the mesh is connected. Running it again converges'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "status" -d 'Show the control plane (health, live peers, rooms), the databases (replication) and every peer (state, memory against its limit, CPU, heartbeat age, cached segments, degree, edge), each with its active faults (paused, stopped, killed, shaped, partitioned, isolated)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "graph" -d 'Write the live mesh from the topology service, with databases and edge attachments: `meshctl graph > peer_network.dot && dot -Tpng peer_network.dot -o peer_network.png`'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "down" -d 'Remove the deployment\'s peers, databases, control plane, networks and volumes. Idempotent; touches nothing of any other deployment'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "logs" -d 'Print a container\'s logs: a peer (`peer-3`), a database (`origin-db`) or a control-plane service (`tracker`) of the deployment'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "events" -d 'Print what happened to the deployment, one line per event, in time order'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "image" -d 'Save images to a tar archive and load them elsewhere, without a registry (the Engine API\'s `docker save` / `docker load`)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "legacy" -d 'The legacy launcher: capped BusyBox-only containers (no agent, no databases)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "publish" -d 'Publish a song: cut audio (or an HLS folder) into content-addressed AAC/MPEG-TS segments, store them in origin-db in one transaction, and wait until both edge databases hold them'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "play" -d 'Play a song through a peer with an unmodified ffmpeg behind a recording proxy, and show where each segment came from (cache, peer, edge), over how many hops, which peer answered, and how long it took. When the peer fails, the proxy moves to its mesh neighbours, as a player with backup streams does'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "stats" -d 'Show per song what the mesh carried: cache hits, relays, edge database reads, origin to edges, and the peer-to-peer ratio against its (N-1)/N ceiling'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "bench" -d 'Load the mesh: `bench swarm` makes every peer play a song at once and reports the p2p ratio, database reads per segment, latency and failures'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "netem" -d 'Shape links: delay, jitter, loss, rate, corruption, duplication on a peer\'s mesh interface (Linux `tc` and `iptables`, applied by a one-shot helper container in the peer\'s network namespace). Where the kernel has no sch_netem, delay, jitter, corruption and duplication are applied by a `mesh-shaper` container per shaped direction (NFQUEUE)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "partition" -d 'Cut every mesh link between groups of peers (iptables DROP in and out in each peer\'s namespace, comment `meshctl-partition`); `meshctl heal` removes it. The running peers in no group form one more group, so `partition peer-1,peer-2` cuts those two off from the rest'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "isolate" -d 'Cut a peer off the mesh network without stopping it: all its traffic on the peer network is dropped, in and out (comment `meshctl-isolate`); `meshctl heal` removes it'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "heal" -d 'Remove every shaping and partition rule from every running peer of the deployment (read from the kernels, so it also cleans up after an interrupted meshctl), the shaper containers and any leftover helper container; with `--all`, first start what was killed or stopped and unpause what was paused, so the deployment is back to its planned state'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish); the generated scripts are kept in completions/'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "kill" -d 'Kill peers, control services or databases of the deployment at once (SIGKILL); `meshctl start` brings them back'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "stop" -d 'Stop peers, control services or databases of the deployment gracefully (SIGTERM, then SIGKILL after --timeout)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "start" -d 'Start stopped or killed peers, control services or databases of the deployment'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "pause" -d 'Freeze peers, control services or databases of the deployment (their processes stop being scheduled; connections stay open)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "unpause" -d 'Thaw paused peers, control services or databases of the deployment'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "restart" -d 'Restart peers, control services or databases of the deployment (stop, then start; a stopped one is started)'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "faults" -d 'List every active fault of the deployment, read back from the Engine and the peers\' kernels: paused containers; peers, control services or databases that are not running (how they ended, and when); shaped links, partitions and isolated peers'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "churn" -d 'Take down a random share of the live peers at each interval (kill, stop or pause) and optionally bring each back after a while, printing every action as it happens. Ends after --duration; Ctrl-C ends it early and brings back what it took down'
complete -c meshctl -n "__fish_meshctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -s f -l file -d 'Mesh file (YAML) with any of these settings, links and per-peer overrides; flags and env override it' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l count -d 'Number of peers [default: 160]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l max-count -d 'Upper bound on --count [default: 160]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l prefix -d 'Peer name prefix (peer-1, peer-2, ...) [default: peer]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-network -d 'The mesh network [default: micro-net]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l edge1-network -d 'Edge A\'s network [default: edge-a-net]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l edge2-network -d 'Edge B\'s network [default: edge-b-net]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l origin-network -d 'The network of origin-db and both edge databases [default: origin-net]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l edge1-peers -d 'Peers joined to edge A, comma-separated (unset: the first few)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l edge2-peers -d 'Peers joined to edge B, comma-separated (unset: a few from the middle)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l image -d 'The peer image, built from mesh-agent [default: peer-node:latest]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l control-image -d 'The control-plane image [default: meshctl-control:latest]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l postgres-db -d 'Database name [default: songs]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l postgres-user -d 'Database user [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l postgres-password -d 'Database password (unset: generated once per deployment, kept in its containers)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l token -d 'Bearer token for control-plane writes and peer ingest (unset: generated once per deployment)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l tracker-url -d 'Tracker URL as peers see it [default: http://tracker:7070]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l signal-url -d 'Signalling URL as peers see it [default: ws://signalling:7080/ws]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-room -d 'Room of every peer not overridden in the mesh file [default: default]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-region -d 'Region of every peer not overridden in the mesh file [default: default]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-rtt-ms -d 'Round-trip time a peer reports, milliseconds [default: 50]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l cache-capacity -d 'Cache entries per peer [default: 64]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l heartbeat-interval -d 'Seconds between heartbeats [default: 30]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l tracker-ttl -d 'Seconds without a heartbeat before the tracker drops a peer [default: 120]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-memory -d 'Hard memory limit per peer, no swap (15m = 15 MiB) [default: 15m]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l peer-cpus -d 'CPUs per peer, 0 for no limit [default: 0.25]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l degree -d 'Neighbors per peer in the generated mesh; 0 takes the file\'s links alone [default: 4]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l seed -d 'Seed of the generated mesh: the same seed gives the same mesh [default: 1]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l label -d 'Extra label for every object, KEY=VALUE (repeatable); replaces the file\'s labels' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l max-workers -d 'Containers created and started at once' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l wait-timeout -d 'Seconds to wait for every peer to announce' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l format -r -f -a "table\t''
json\t''
yaml\t'A mesh file reproducing the plan (with --dry-run)'"
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l no-wait -d 'Return once everything started, without waiting for announces'
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -l dry-run -d 'Print the resolved plan and change nothing'
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c meshctl -n "__fish_meshctl_using_subcommand up" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -l max-workers -d 'Containers inspected at once (stats samples are all asked at once: the Engine answers them together at its next tick)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -l networks -d 'Also list the deployment\'s networks and their members (the spec\'s `docker network inspect`)'
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -l no-stats -d 'Skip Docker stats (memory, CPU): faster on large meshes'
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand status" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand graph" -l format -r -f -a "dot\t''
json\t''
mermaid\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand graph" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand graph" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand graph" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -l max-workers -d 'Containers removed at once' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -l keep-control -d 'Leave the control plane (and its network) running'
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand down" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand logs" -l tail -d 'Only the last N lines' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand logs" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand logs" -s f -l follow -d 'Keep printing new lines'
complete -c meshctl -n "__fish_meshctl_using_subcommand logs" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand logs" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -l since -d 'How far back to start: 30s, 5m, 1h30m, 2d (a bare number is seconds)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -l format -d '`table`: aligned lines for people; `json`: one object per line (JSON Lines) with at, at_ms, source, kind, target and the details' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -l poll-ms -d 'Milliseconds between polls of the services\' feeds while following' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -s f -l follow -d 'Keep printing new events until Ctrl-C'
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c meshctl -n "__fish_meshctl_using_subcommand events" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -f -a "save" -d 'Write images to an archive [default: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has]'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -f -a "load" -d 'Load an archive made by `image save` (or `docker save`)'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and not __fish_seen_subcommand_from save load help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from save" -s o -l output -d 'The archive to write' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from save" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from save" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from save" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from load" -s i -l input -d 'The archive to read' -r -F
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from load" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from load" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from load" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "save" -d 'Write images to an archive [default: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has]'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "load" -d 'Load an archive made by `image save` (or `docker save`)'
complete -c meshctl -n "__fish_meshctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -f -a "up" -d 'Start COUNT capped BusyBox containers'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -f -a "down" -d 'Remove the legacy containers and their network'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and not __fish_seen_subcommand_from up down help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l count -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l memory -d 'Hard memory limit per container, no swap' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l cpus -d 'CPUs per container, 0 for no limit' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l max-workers -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l label -d 'Extra label for every object, KEY=VALUE (repeatable)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from up" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from down" -l max-workers -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from down" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from down" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from help" -f -a "up" -d 'Start COUNT capped BusyBox containers'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from help" -f -a "down" -d 'Remove the legacy containers and their network'
complete -c meshctl -n "__fish_meshctl_using_subcommand legacy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -l song -d 'The song\'s name: letters, digits, \'-\' and \'_\'' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -l timeout -d 'Seconds to wait for the databases and for replication to both edges' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -l format -d '`table` (lines for people) or `json`' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand publish" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l peer -d 'The peer to play through; default the last running peer without an edge database (usually far from both edges)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l speed -d 'ffmpeg reads at this many times real time (`-readrate`), like a listener; default: as fast as it can' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l request-timeout -d 'Seconds for each request through the proxy, failovers included (one peer gets at most a third of it)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l timeout -d 'Seconds for the whole play' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l failover -d 'After a failed request (refused, cut, timed out, 5xx) ask the peer\'s mesh neighbours, one after another, at once (the default)'
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l no-failover -d 'Every request goes to the one peer; its failures reach ffmpeg'
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -l master -d 'Play the peer\'s master playlist (`/songs/<song>/master.m3u8`: the peer, then its live neighbours, as redundant streams) by its mesh address, through the proxy as ffmpeg\'s `http_proxy`'
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand play" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -l song -d 'Only this song (the total still covers every song)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -l timeout -d 'Seconds for each peer\'s answer' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand stats" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -f -a "swarm" -d 'N listeners play one song at once, each through its own peer'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -f -a "churn" -d 'The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener\'s own peer stayed up'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and not __fish_seen_subcommand_from swarm churn help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l song -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l listeners -d 'Listeners; default one per running peer (listener i uses peer i mod peers)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l spread -d 'Seconds over which the listeners\' starts are spread at random' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l retries -d 'Further attempts at a failed or corrupt segment, as a player would' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l request-timeout -d 'Seconds for each request' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l speed -d 'Pace each listener like a player at this many times real time (3 segments ahead of the playhead); default: as fast as it can' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -l failover -d 'After a failed request, a listener asks the next of its peer\'s mesh neighbours, as a player with backup streams does'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from swarm" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l song -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l listeners -d 'Listeners; default one per running peer' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l spread -d 'Seconds over which the listeners\' starts are spread at random' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l retries -d 'Further attempts at a failed or corrupt segment, each after a pause (--retry-pause)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l retry-pause -d 'Seconds before the k-th further attempt: k times this, as players back off (4 retries at 0.5 s wait 5 s in all, about one segment at 2×)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l request-timeout -d 'Seconds for each request' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l speed -d 'Pace each listener like a player at this many times real time (3 segments ahead of the playhead), so faults hit a playing swarm' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l kill -d 'Take down this many live peers each round: a count or a share (10%)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l every -d 'Time between rounds of --kill' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l kill-from -d 'First round of --kill, from the start' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l mode -d 'How --kill takes peers down' -r -f -a "kill\t''
stop\t''
pause\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l restart-after -d 'Bring each peer taken down back after this long (else when the swarm ends)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l except -d 'Leave out of --kill: `edge-peers` or a peer; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l restart -d 'Restart these one after another (comma-separated: redis, tracker, signalling, topology, edge-db-a, ...)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l restart-at -d 'First restart, from the start' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l restart-gap -d 'Time between restarts' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l partition-around -d 'Partition the mesh around this edge database (repeatable) for a window' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l partition-random -d 'Partition a random group of this many peers from the rest' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l partition-at -d 'When the partition starts' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l partition-for -d 'How long it holds before heal' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l seed -d 'Seed of every random choice (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -l no-failover -d 'Listeners stay on their own peer (no failover to its neighbours)'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from churn" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "swarm" -d 'N listeners play one song at once, each through its own peer'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "churn" -d 'The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener\'s own peer stayed up'
complete -c meshctl -n "__fish_meshctl_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -f -a "set" -d 'Shape a peer\'s egress: all of it, or only the links to `--to` peers (both directions of each link unless `--one-way`). Replaces what was set before for the same direction'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -f -a "show" -d 'Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -f -a "reset" -d 'Remove the shaping of a peer (its egress), or of every peer'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and not __fish_seen_subcommand_from set show reset help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l to -d 'Only the links to these neighbours (repeat or comma-separate)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l delay -d 'Added delay (`80ms`, `1s`, `500us`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l jitter -d 'Delay variation (`10ms`); needs --delay' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l loss -d 'Packets dropped (`2%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l rate -d 'Bandwidth (`1mbit`, `500kbit`, `100kbps` for bytes)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l corrupt -d 'Packets corrupted (`0.1%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l duplicate -d 'Packets duplicated (`1%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -l one-way -d 'Shape only this peer\'s side of each --to link'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from show" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from show" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from reset" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from reset" -l all -d 'Every running peer of the deployment'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from reset" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from reset" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from help" -f -a "set" -d 'Shape a peer\'s egress: all of it, or only the links to `--to` peers (both directions of each link unless `--one-way`). Replaces what was set before for the same direction'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from help" -f -a "show" -d 'Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from help" -f -a "reset" -d 'Remove the shaping of a peer (its egress), or of every peer'
complete -c meshctl -n "__fish_meshctl_using_subcommand netem; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -l random -d 'One more group of this many random peers: a count (`8`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -l around -d 'One more group: the peers nearest this edge database by mesh hops (`edge-db-a`); repeatable. `--around edge-db-a` on a deployment with two edges cuts the mesh into halves that each keep an edge' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -l seed -d 'Seed of --random (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand partition" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand isolate" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand isolate" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand isolate" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand heal" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand heal" -l all -d 'Also restart killed or stopped containers and unpause paused ones'
complete -c meshctl -n "__fish_meshctl_using_subcommand heal" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand heal" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand kill" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l timeout -d 'Seconds to wait after SIGTERM before SIGKILL' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand stop" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand start" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand pause" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand unpause" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l random -d 'Also pick this many at random: a count (`3`) or a share (`25%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l role -d 'What --random picks from' -r -f -a "peer\t''
control\t''
db\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l seed -d 'Seed of --random: the same seed on the same deployment picks the same targets (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l except -d 'Leave out of --random: `edge-peers` (peers reading an edge database) or a target; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l timeout -d 'Seconds to wait after SIGTERM before SIGKILL' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand restart" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand faults" -l format -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand faults" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand faults" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand faults" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l rate -d 'Live peers taken down each round: a count (`2`) or a share (`10%`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l interval -d 'Time between rounds (`5s`, `500ms`, `1m`)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l duration -d 'How long the churn runs' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l seed -d 'Seed of the picks: the same seed repeats the same choices on the same deployment state (printed when not given)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l restart-after -d 'Bring each peer back this long after it went down (also every peer still down at the end)' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l mode -d 'What happens to a picked peer' -r -f -a "kill\t''
stop\t''
pause\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l except -d 'Leave out: `edge-peers` or a peer; repeatable' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l format -d 'One JSON object per action (JSON lines) instead of text' -r -f -a "table\t''
json\t''"
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -l name -d 'The deployment to act on: every object carries its name, and status, graph and down touch only their own [default: mesh]' -r
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -s h -l help -d 'Print help'
complete -c meshctl -n "__fish_meshctl_using_subcommand churn" -s V -l version -d 'Print version'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "up" -d 'Build the images, create the networks, start the databases, the control plane and the peers with hard limits, and wait until every peer has announced and the mesh is connected. Running it again converges'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "status" -d 'Show the control plane (health, live peers, rooms), the databases (replication) and every peer (state, memory against its limit, CPU, heartbeat age, cached segments, degree, edge), each with its active faults (paused, stopped, killed, shaped, partitioned, isolated)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "graph" -d 'Write the live mesh from the topology service, with databases and edge attachments: `meshctl graph > peer_network.dot && dot -Tpng peer_network.dot -o peer_network.png`'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "down" -d 'Remove the deployment\'s peers, databases, control plane, networks and volumes. Idempotent; touches nothing of any other deployment'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "logs" -d 'Print a container\'s logs: a peer (`peer-3`), a database (`origin-db`) or a control-plane service (`tracker`) of the deployment'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "events" -d 'Print what happened to the deployment, one line per event, in time order'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "image" -d 'Save images to a tar archive and load them elsewhere, without a registry (the Engine API\'s `docker save` / `docker load`)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "legacy" -d 'The legacy launcher: capped BusyBox-only containers (no agent, no databases)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "publish" -d 'Publish a song: cut audio (or an HLS folder) into content-addressed AAC/MPEG-TS segments, store them in origin-db in one transaction, and wait until both edge databases hold them'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "play" -d 'Play a song through a peer with an unmodified ffmpeg behind a recording proxy, and show where each segment came from (cache, peer, edge), over how many hops, which peer answered, and how long it took. When the peer fails, the proxy moves to its mesh neighbours, as a player with backup streams does'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "stats" -d 'Show per song what the mesh carried: cache hits, relays, edge database reads, origin to edges, and the peer-to-peer ratio against its (N-1)/N ceiling'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "bench" -d 'Load the mesh: `bench swarm` makes every peer play a song at once and reports the p2p ratio, database reads per segment, latency and failures'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "netem" -d 'Shape links: delay, jitter, loss, rate, corruption, duplication on a peer\'s mesh interface (Linux `tc` and `iptables`, applied by a one-shot helper container in the peer\'s network namespace). Where the kernel has no sch_netem, delay, jitter, corruption and duplication are applied by a `mesh-shaper` container per shaped direction (NFQUEUE)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "partition" -d 'Cut every mesh link between groups of peers (iptables DROP in and out in each peer\'s namespace, comment `meshctl-partition`); `meshctl heal` removes it. The running peers in no group form one more group, so `partition peer-1,peer-2` cuts those two off from the rest'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "isolate" -d 'Cut a peer off the mesh network without stopping it: all its traffic on the peer network is dropped, in and out (comment `meshctl-isolate`); `meshctl heal` removes it'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "heal" -d 'Remove every shaping and partition rule from every running peer of the deployment (read from the kernels, so it also cleans up after an interrupted meshctl), the shaper containers and any leftover helper container; with `--all`, first start what was killed or stopped and unpause what was paused, so the deployment is back to its planned state'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish); the generated scripts are kept in completions/'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "kill" -d 'Kill peers, control services or databases of the deployment at once (SIGKILL); `meshctl start` brings them back'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "stop" -d 'Stop peers, control services or databases of the deployment gracefully (SIGTERM, then SIGKILL after --timeout)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "start" -d 'Start stopped or killed peers, control services or databases of the deployment'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "pause" -d 'Freeze peers, control services or databases of the deployment (their processes stop being scheduled; connections stay open)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "unpause" -d 'Thaw paused peers, control services or databases of the deployment'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "restart" -d 'Restart peers, control services or databases of the deployment (stop, then start; a stopped one is started)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "faults" -d 'List every active fault of the deployment, read back from the Engine and the peers\' kernels: paused containers; peers, control services or databases that are not running (how they ended, and when); shaped links, partitions and isolated peers'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "churn" -d 'Take down a random share of the live peers at each interval (kill, stop or pause) and optionally bring each back after a while, printing every action as it happens. Ends after --duration; Ctrl-C ends it early and brings back what it took down'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and not __fish_seen_subcommand_from up status graph down logs events image legacy publish play stats bench netem partition isolate heal completions kill stop start pause unpause restart faults churn help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "save" -d 'Write images to an archive [default: the peer and control-plane images, plus the PostgreSQL, Redis and BusyBox images the daemon has]'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "load" -d 'Load an archive made by `image save` (or `docker save`)'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from legacy" -f -a "up" -d 'Start COUNT capped BusyBox containers'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from legacy" -f -a "down" -d 'Remove the legacy containers and their network'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "swarm" -d 'N listeners play one song at once, each through its own peer'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "churn" -d 'The swarm while peers are killed on a schedule, services restarted and the mesh partitioned; figures per phase (before, during, after), failures split by whether the listener\'s own peer stayed up'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from netem" -f -a "set" -d 'Shape a peer\'s egress: all of it, or only the links to `--to` peers (both directions of each link unless `--one-way`). Replaces what was set before for the same direction'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from netem" -f -a "show" -d 'Read the shaping back from the kernel, one row per shaped direction; VIA says whether netem (kernel) or a shaper container applies it'
complete -c meshctl -n "__fish_meshctl_using_subcommand help; and __fish_seen_subcommand_from netem" -f -a "reset" -d 'Remove the shaping of a peer (its egress), or of every peer'
