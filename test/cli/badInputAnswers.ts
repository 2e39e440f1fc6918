// The answers natscope gives to the bad inputs of test/cli/badInputs.ts,
// by the case's words: [exit code, the natscope: line, the fix line]. The
// case's folder is {tmp}.

export const ANSWERS: Record<string, [number, string, string]> = {
  'replay of a recording with a drop whose packet is {}': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.proto is missing',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a drop whose packet is {}': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.proto is missing',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a drop whose packet flags are null': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a drop whose packet flags are null': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a drop whose packet flags are a string': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got "SYN"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a drop whose packet flags are a string': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got "SYN"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a drop whose packet flags are an object': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got {"SYN":true}',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a drop whose packet flags are an object': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: packet.flags should be a list, got {"SYN":true}',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a ct-new whose status is {}': [
    1,
    '{tmp}/rec.jsonl: line 3: ct-new event: status should be a list, got {}',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a ct-new whose status is {}': [
    1,
    '{tmp}/rec.jsonl: line 3: ct-new event: status should be a list, got {}',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a status whose lab is {}': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.backend is missing',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a status whose lab is {}': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.backend is missing',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a status whose lab.pods is null': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.pods should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a status whose lab.pods is null': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.pods should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a status whose lab.services is null': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.services should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'demo --replay of a recording with a status whose lab.services is null': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: lab.services should be a list, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a line that is not JSON': [
    1,
    '{tmp}/rec.jsonl: line 2: not JSON: "hello"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a JSON array for an event': [
    1,
    '{tmp}/rec.jsonl: line 2: not a JSON object',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with an unknown event kind': [
    1,
    '{tmp}/rec.jsonl: line 2: unknown event kind "nuke" (known: nat, ct-new, ct-destroy, drop, rewrite, lost, counted, error, request, config, status, observation, reply)',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with an event newer than natscope (v 3)': [
    1,
    '{tmp}/rec.jsonl: line 2: event version 3 is newer than this natscope reads (1): upgrade natscope',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with deeply nested JSON (100,000 brackets)': [
    1,
    '{tmp}/rec.jsonl: line 2: not a JSON object',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with t of -5': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: t should be a whole number of nanoseconds ≥ 0, got -5',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with t of 1e308': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: t should be a whole number of nanoseconds ≥ 0, got 1e+308',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with t as a string': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: t should be a whole number of nanoseconds ≥ 0, got "41151758200"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with an address of 999.999.1.1': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: orig.src should be an IPv4 address (a.b.c.d, no leading zeros), got "999.999.1.1"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with a leading-zero address': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: orig.src should be an IPv4 address (a.b.c.d, no leading zeros), got "010.0.0.1"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with a port of -70000': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: orig.sport should be a port number (a whole number 0-65535), got -70000',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with a port of 1.5': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: orig.dport should be a port number (a whole number 0-65535), got 1.5',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with orig null': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: orig should be an object, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with manip "XNAT"': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: manip should be one of "DNAT", "SNAT", got "XNAT"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with proto "sctp"': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: proto should be tcp, udp, icmp or ipN (N 0-255), got "sctp"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with host 42': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: host should be a string, got 42',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a nat event with netns -1': [
    1,
    '{tmp}/rec.jsonl: line 4: nat event: netns should be a namespace inode (a whole number ≥ 0), got -1',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with an event with v "1" (a string)': [
    1,
    '{tmp}/rec.jsonl: line 4: no event version "v": not a natscope event stream',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with an event with v 0': [
    1,
    '{tmp}/rec.jsonl: line 4: event version 0 is not valid',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with an event with no kind': [
    1,
    '{tmp}/rec.jsonl: line 4: no "kind"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a drop with a reason code of "12"': [
    1,
    '{tmp}/rec.jsonl: line 7: drop event: reasonCode should be a drop reason code (a whole number ≥ 0), got "12"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a request with an outcome of "maybe"': [
    1,
    '{tmp}/rec.jsonl: line 6: request event: outcome should be one of "answered", "timeout", "refused", "error", got "maybe"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a request with a latency of -1 ms': [
    1,
    '{tmp}/rec.jsonl: line 6: request event: latencyMs should be a number ≥ 0, got -1',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a config with kubeProxy null': [
    1,
    '{tmp}/rec.jsonl: line 1: config event: kubeProxy should be an object, got null',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a config with a clusterCIDR of 010.244.0.0/16': [
    1,
    '{tmp}/rec.jsonl: line 1: config event: kubeProxy.clusterCIDR should be an IPv4 CIDR (a.b.c.d/n, no host bits set), got "010.244.0.0/16"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a status with an unknown state': [
    1,
    '{tmp}/rec.jsonl: line 2: status event: state should be one of "ready", "tracing", "stopped", got "exploding"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a line cut in the middle (truncated recording)': [
    1,
    '{tmp}/rec.jsonl: line 8: not JSON: "{\\"v\\":1,\\"kind\\":\\"ct-new\\",\\"t\\":4"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a line of 2 MB with no line break': [
    1,
    '{tmp}/rec.jsonl: line 1 is longer than 1048576 bytes, the limit of an event',
    'is this a natscope recording (JSON Lines, one event per line)?',
  ],
  'replay of a recording with binary junk': [
    1,
    '{tmp}/rec.jsonl: line 1: not JSON: "\\u0000\\u0001\\u0002��\\x7f"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'replay of a recording with a gzip-compressed recording': [
    1,
    '{tmp}/rec.jsonl is gzip-compressed, not a recording as written',
    'natscope replay <(zcat {tmp}/rec.jsonl)',
  ],
  'replay of a recording with a UTF-16 recording': [
    1,
    '{tmp}/rec.jsonl is UTF-16 text; recordings are UTF-8',
    'convert it: iconv -f UTF-16 -t UTF-8 {tmp}/rec.jsonl > recording.jsonl',
  ],
  'replay of a recording with an empty file': [
    1,
    '{tmp}/rec.jsonl holds no events: it is empty',
    'record one with: natscope trace --record FILE',
  ],
  'replay of a recording with only blank lines': [
    1,
    '{tmp}/rec.jsonl holds no events: only blank lines',
    'record one with: natscope trace --record FILE',
  ],
  'an unknown command': [2, "unknown command 'bogus'", 'natscope --help lists the commands'],
  'a misspelt command': [2, "unknown command 'trce'; did you mean trace?", 'natscope --help lists the commands'],
  'an unknown global option': [2, "unknown option '--bogus'", 'natscope --help lists the commands'],
  'replay with no file': [
    2,
    "missing required argument 'file'",
    'natscope replay --help lists its options and arguments',
  ],
  'replay with two files': [
    2,
    "too many arguments for 'replay'. Expected 1 argument but got 2.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay with a misspelt option': [
    2,
    "unknown option '--jsn'; did you mean --json?",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed abc': [
    2,
    "option '--speed <n>' argument 'abc' is invalid. expected a number ≥ 0.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed -1': [
    2,
    "option '--speed <n>' argument '-1' is invalid. expected a number ≥ 0.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed with an empty value': [
    2,
    "option '--speed <n>' argument '' is invalid. expected a number ≥ 0.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed Infinity': [
    2,
    "option '--speed <n>' argument 'Infinity' is invalid. expected a number ≥ 0.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed NaN': [
    2,
    "option '--speed <n>' argument 'NaN' is invalid. expected a number ≥ 0.",
    'natscope replay --help lists its options and arguments',
  ],
  'replay --speed with no value': [
    2,
    "option '--speed <n>' argument missing",
    'natscope replay --help lists its options and arguments',
  ],
  'replay of an empty file name': [
    2,
    'no recording given: the file name is empty',
    'name a recording (natscope replay FILE), or - for standard input',
  ],
  'replay of a file that does not exist': [
    1,
    'replay file {tmp}/missing.jsonl does not exist',
    'record one with: natscope trace --record FILE',
  ],
  'replay of a folder': [1, '{tmp}/dir is a folder, not a recording', 'record one with: natscope trace --record FILE'],
  'replay of /dev/null': [1, '/dev/null holds no events: it is empty', 'record one with: natscope trace --record FILE'],
  'replay of a path through a file': [
    1,
    'cannot read {tmp}/rec.jsonl/x.jsonl: a part of its path is a file, not a folder',
    'record one with: natscope trace --record FILE',
  ],
  'replay of a symlink loop': [
    1,
    'cannot read {tmp}/loop: its symbolic links go round in a loop',
    'point it at the recording itself',
  ],
  'replay of a file the user may not read': [
    1,
    'cannot read {tmp}/secret.jsonl (permission denied)',
    'check its permissions (ls -l {tmp}/secret.jsonl), or replay it as a user who may read it',
  ],
  'replay - of an empty standard input': [
    1,
    'standard input holds no events: it is empty',
    'record one with: natscope trace --record FILE',
  ],
  'replay of a UTF-8 recording whose first event is bad after a BOM': [
    1,
    '{tmp}/bom.jsonl: line 1: nat event: t is missing',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'tui --replay with no file': [
    2,
    "option '--replay <file>' argument missing",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --replay of a file that does not exist': [
    1,
    'replay file {tmp}/missing.jsonl does not exist',
    'record one with: natscope trace --record FILE',
  ],
  'tui --replay of a folder': [
    1,
    '{tmp}/dir is a folder, not a recording',
    'record one with: natscope trace --record FILE',
  ],
  'tui --replay of a recording whose first line is not JSON': [
    1,
    '{tmp}/rec.jsonl: line 1: not JSON: "hello"',
    'a recording is JSON Lines written by natscope trace --record or --json',
  ],
  'tui --replay of an empty recording': [
    1,
    '{tmp}/rec.jsonl holds no events: it is empty',
    'record one with: natscope trace --record FILE',
  ],
  'tui --replay of a gzip-compressed recording': [
    1,
    '{tmp}/rec.jsonl is gzip-compressed, not a recording as written',
    'natscope replay <(zcat {tmp}/rec.jsonl)',
  ],
  'tui --replay of a good recording without a terminal': [
    1,
    'natscope tui needs a terminal: its input or output is not one',
    'for plain output use natscope replay FILE or natscope trace',
  ],
  'tui --speed x': [
    2,
    "option '--speed <n>' argument 'x' is invalid. expected a number ≥ 0.",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --speed -2': [
    2,
    "option '--speed <n>' argument '-2' is invalid. expected a number ≥ 0.",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --probes nat,bogus': [
    2,
    'unknown probe "bogus"',
    'known probes: nat, conntrack, drop, rewrite (e.g. --probes nat,conntrack,drop)',
  ],
  'tui --vm maybe': [
    2,
    "option '--vm <mode>' argument 'maybe' is invalid. Allowed choices are auto, on, off.",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --lab minikube': [
    2,
    "option '--lab <backend>' argument 'minikube' is invalid. Allowed choices are netns, kind.",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --detail lots': [
    2,
    'option \'--detail <n|all>\' argument \'lots\' is invalid. --detail "lots" is not a number of events or "all"; give events per CPU and second to report whole (default 200), e.g. --detail 1000, or --detail all for every event',
    'natscope tui --help lists its options and arguments',
  ],
  'tui --prefix Bad_Prefix': [
    2,
    "option '--prefix <prefix>' argument 'Bad_Prefix' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope tui --help lists its options and arguments',
  ],
  'the live tui as an unprivileged user': [
    1,
    'the live TUI needs root: it brings up the lab and the tracer',
    'sudo natscope tui, or without root: natscope tui --replay FILE',
  ],
  'demo --step 0': [
    2,
    "option '--step <n>' argument '0' is invalid. expected a positive number.",
    'natscope demo --help lists its options and arguments',
  ],
  'demo --step 11': [2, 'there is no step 11', 'steps are 1 to 10'],
  'demo --step 1.5': [2, 'there is no step 1.5', 'steps are 1 to 10'],
  'demo --step x': [
    2,
    "option '--step <n>' argument 'x' is invalid. expected a positive number.",
    'natscope demo --help lists its options and arguments',
  ],
  'demo --attach-timeout x': [
    2,
    "option '--attach-timeout <seconds>' argument 'x' is invalid. expected a positive number.",
    'natscope demo --help lists its options and arguments',
  ],
  'demo --attach-timeout with --replay': [
    2,
    '--attach-timeout and --replay do not go together',
    'a replay attaches no probes: leave out --attach-timeout (or --replay, to trace live)',
  ],
  'tui --attach-timeout 0': [
    2,
    "option '--attach-timeout <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope tui --help lists its options and arguments',
  ],
  'tui --attach-timeout with --replay': [
    2,
    '--attach-timeout and --replay do not go together',
    'a replay attaches no probes: leave out --attach-timeout (or --replay, to trace live)',
  ],
  'demo --record and --replay together': [
    2,
    '--record and --replay do not go together',
    'a replayed demo records nothing new: leave out --record (or --replay, to record a live run)',
  ],
  'demo --replay of a file that does not exist': [
    1,
    'replay file {tmp}/missing.jsonl does not exist',
    'record one with: natscope trace --record FILE',
  ],
  'demo --vm sometimes': [
    2,
    "option '--vm <mode>' argument 'sometimes' is invalid. Allowed choices are auto, on, off.",
    'natscope demo --help lists its options and arguments',
  ],
  'demo --lab minikube': [
    2,
    "option '--lab <backend>' argument 'minikube' is invalid. Allowed choices are netns, kind.",
    'natscope demo --help lists its options and arguments',
  ],
  'the live demo as an unprivileged user': [
    1,
    'demo needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope demo',
  ],
  'trace --probes nat,bogus': [
    2,
    'unknown probe "bogus"',
    'known probes: nat, conntrack, drop, rewrite (e.g. --probes nat,conntrack,drop)',
  ],
  'trace --probes with an empty list': [2, '--probes is empty', 'use some of: nat,conntrack,drop,rewrite'],
  'trace --probes ","': [2, '--probes is empty', 'use some of: nat,conntrack,drop,rewrite'],
  'trace --duration 0': [
    2,
    "option '--duration <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --duration -1': [
    2,
    "option '--duration <seconds>' argument '-1' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --duration abc': [
    2,
    "option '--duration <seconds>' argument 'abc' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --duration 1e400': [
    2,
    "option '--duration <seconds>' argument '1e400' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --detail lots': [
    2,
    'option \'--detail <n|all>\' argument \'lots\' is invalid. --detail "lots" is not a number of events or "all"; give events per CPU and second to report whole (default 200), e.g. --detail 1000, or --detail all for every event',
    'natscope trace --help lists its options and arguments',
  ],
  'trace --detail -5': [
    2,
    'option \'--detail <n|all>\' argument \'-5\' is invalid. --detail "-5" is not a number of events or "all"; give events per CPU and second to report whole (default 200), e.g. --detail 1000, or --detail all for every event',
    'natscope trace --help lists its options and arguments',
  ],
  'trace --detail 1.5': [
    2,
    'option \'--detail <n|all>\' argument \'1.5\' is invalid. --detail "1.5" is not a number of events or "all"; give events per CPU and second to report whole (default 200), e.g. --detail 1000, or --detail all for every event',
    'natscope trace --help lists its options and arguments',
  ],
  'trace --attach-timeout 0': [
    2,
    "option '--attach-timeout <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --attach-timeout x': [
    2,
    "option '--attach-timeout <seconds>' argument 'x' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --vm maybe': [
    2,
    "option '--vm <mode>' argument 'maybe' is invalid. Allowed choices are auto, on, off.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --lab minikube': [
    2,
    "option '--lab <backend>' argument 'minikube' is invalid. Allowed choices are netns, kind.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --prefix Bad_Prefix': [
    2,
    "option '--prefix <prefix>' argument 'Bad_Prefix' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --prefix with an empty value': [
    2,
    "option '--prefix <prefix>' argument '' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --prefix ../x-': [
    2,
    "option '--prefix <prefix>' argument '../x-' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --prefix of 40 characters': [
    2,
    "option '--prefix <prefix>' argument 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --rules with no --request': [
    2,
    '--rules follows one lab request: name its target with --request',
    'sudo natscope trace --rules --request mysql',
  ],
  'trace --request with no --rules': [2, '--request goes with --rules', 'sudo natscope trace --rules --request mysql'],
  'trace --timeout with no --rules': [2, '--timeout goes with --rules', 'sudo natscope trace --rules --request mysql'],
  'trace --rules --request with no target': [
    2,
    "option '--request <target>' argument missing",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --rules --request with an empty target': [
    2,
    '--request needs a target, and it is empty',
    'name a Service or pod of the lab: --request mysql (or nginx, pod/nginx, pod/mysql)',
  ],
  'trace --rules --timeout 0': [
    2,
    "option '--timeout <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --rules --timeout -1': [
    2,
    "option '--timeout <seconds>' argument '-1' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --rules --timeout abc': [
    2,
    "option '--timeout <seconds>' argument 'abc' is invalid. expected a positive number.",
    'natscope trace --help lists its options and arguments',
  ],
  'trace --rules --timeout 600': [
    2,
    '--timeout 600 is too long: a traced request waits 20 s at most',
    'sudo natscope trace --rules --request mysql --timeout 3 (a lab request answers in milliseconds or not at all)',
  ],
  'trace --rules with --probes': [
    2,
    '--probes is an option of the event stream, not of --rules',
    'sudo natscope trace --rules --request mysql, or sudo natscope trace --probes … without --rules',
  ],
  'trace --rules with --record': [
    2,
    '--record is an option of the event stream, not of --rules',
    'sudo natscope trace --rules --request mysql, or sudo natscope trace --record … without --rules',
  ],
  'trace --rules with --all-netns': [
    2,
    '--all-netns is an option of the event stream, not of --rules',
    'sudo natscope trace --rules --request mysql, or sudo natscope trace --all-netns … without --rules',
  ],
  'trace --rules with --attach-timeout but no --events': [
    2,
    '--attach-timeout goes with --events under --rules: a rule trace alone attaches no probes',
    'sudo natscope trace --rules --request mysql --events --attach-timeout 300, or leave out --attach-timeout',
  ],
  'trace --rules with --duration': [
    2,
    '--duration is an option of the event stream, not of --rules',
    'sudo natscope trace --rules --request mysql, or sudo natscope trace --duration … without --rules',
  ],
  'trace --rules on the kind lab in the micro-VM': [
    2,
    "the kind lab runs on this machine's Docker, not in the micro-VM",
    'sudo natscope trace --rules --request mysql --lab kind (without --vm on)',
  ],
  'trace --rules as an unprivileged user': [
    1,
    'trace --rules --request mysql needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope trace --rules --request mysql',
  ],
  'trace as an unprivileged user': [
    1,
    'trace needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope trace',
  ],
  'doctor with an argument': [
    2,
    "too many arguments for 'doctor'. Expected 0 arguments but got 1.",
    'natscope doctor --help lists its options and arguments',
  ],
  'doctor --bogus': [2, "unknown option '--bogus'", 'natscope doctor --help lists its options and arguments'],
  'lab up --vm sometimes': [
    2,
    "option '--vm <mode>' argument 'sometimes' is invalid. Allowed choices are auto, on, off.",
    'natscope lab up --help lists its options and arguments',
  ],
  'lab up --lab minikube': [
    2,
    "option '--lab <backend>' argument 'minikube' is invalid. Allowed choices are netns, kind.",
    'natscope lab up --help lists its options and arguments',
  ],
  'lab up --iptables nf': [
    2,
    "option '--iptables <backend>' argument 'nf' is invalid. Allowed choices are nft, legacy.",
    'natscope lab up --help lists its options and arguments',
  ],
  'lab up --lab kind --iptables legacy': [
    2,
    "--iptables is the netns lab's: a kind node image chooses its iptables itself",
    'leave out --iptables with --lab kind',
  ],
  'lab up --prefix Bad_Prefix': [
    2,
    "option '--prefix <prefix>' argument 'Bad_Prefix' is invalid. use lower-case letters, digits and \"-\", up to 24 characters (default natscope-).",
    'natscope lab up --help lists its options and arguments',
  ],
  'lab up --prefix with no value': [
    2,
    "option '--prefix <prefix>' argument missing",
    'natscope lab up --help lists its options and arguments',
  ],
  'lab up as an unprivileged user': [
    1,
    'lab up needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope lab up',
  ],
  'lab set with no value': [
    2,
    "missing required argument 'value'",
    'natscope lab set --help lists its options and arguments',
  ],
  'lab request with no target': [
    2,
    "missing required argument 'target'",
    'natscope lab request --help lists its options and arguments',
  ],
  'lab request --timeout 0': [
    2,
    "option '--timeout <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope lab request --help lists its options and arguments',
  ],
  'lab request --timeout x': [
    2,
    "option '--timeout <seconds>' argument 'x' is invalid. expected a positive number.",
    'natscope lab request --help lists its options and arguments',
  ],
  'lab load --workers 0.5': [
    2,
    "option '--workers <n>' argument '0.5' is invalid. expected a whole number from 1 to 64.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab load --workers 0': [
    2,
    "option '--workers <n>' argument '0' is invalid. expected a whole number from 1 to 64.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab load --workers 100000': [
    2,
    "option '--workers <n>' argument '100000' is invalid. expected a whole number from 1 to 64.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab load --workers -1': [
    2,
    "option '--workers <n>' argument '-1' is invalid. expected a whole number from 1 to 64.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab load --seconds 0': [
    2,
    "option '--seconds <n>' argument '0' is invalid. expected a positive number.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab load --seconds with an empty value': [
    2,
    "option '--seconds <n>' argument '' is invalid. expected a positive number.",
    'natscope lab load --help lists its options and arguments',
  ],
  'lab rules with no node': [
    2,
    "missing required argument 'node'",
    'natscope lab rules --help lists its options and arguments',
  ],
  'lab status as an unprivileged user': [
    1,
    'lab status needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope lab status',
  ],
  'vm run with no command': [
    2,
    "missing required argument 'command'",
    'natscope vm run --help lists its options and arguments',
  ],
  'vm run --timeout 0': [
    2,
    "option '--timeout <seconds>' argument '0' is invalid. expected a positive number.",
    'natscope vm run --help lists its options and arguments',
  ],
  'vm run --timeout x': [
    2,
    "option '--timeout <seconds>' argument 'x' is invalid. expected a positive number.",
    'natscope vm run --help lists its options and arguments',
  ],
  'vm run --stack debian14': [
    2,
    "option '--stack <name>' argument 'debian14' is invalid. Allowed choices are debian12, debian13.",
    'natscope vm run --help lists its options and arguments',
  ],
  'vm setup --stack debian14': [
    2,
    "option '--stack <name>' argument 'debian14' is invalid. Allowed choices are debian12, debian13.",
    'natscope vm setup --help lists its options and arguments',
  ],
  'vm run as an unprivileged user': [
    1,
    'vm run needs root (network namespaces, iptables, bpftrace)',
    'sudo natscope vm run',
  ],
  'lab up --cluster-cidr 010.244.0.0/16 (leading zero)': [
    2,
    'invalid CIDR "010.244.0.0/16": a number with a leading zero (iptables would read 010 as octal 8)',
    'did you mean 10.244.0.0/16?',
  ],
  'lab up --cluster-cidr 10.244.0.1/16 (host bits set)': [
    2,
    'invalid CIDR "10.244.0.1/16": host bits are set',
    'did you mean 10.244.0.0/16?',
  ],
  'lab up --cluster-cidr 0.0.0.0/0': [
    2,
    'invalid CIDR "0.0.0.0/0": it matches every address, so no client would count as outside the cluster',
    "give the pods' range (e.g. 10.244.0.0/16); to masquerade every client instead: natscope lab set masquerade-all on",
  ],
  'lab up --cluster-cidr 10.244.0.0/33': [
    2,
    'invalid CIDR "10.244.0.0/33": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
  'lab up --cluster-cidr 10.244.0.0 (no length)': [
    2,
    'invalid CIDR "10.244.0.0": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
  'lab up --cluster-cidr 300.1.1.0/24': [
    2,
    'invalid CIDR "300.1.1.0/24": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
  'lab up --cluster-cidr garbage': [
    2,
    'invalid CIDR "garbage": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
};
