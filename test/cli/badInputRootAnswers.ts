// The answers natscope gives to the bad inputs of test/cli/badInputs.ts that
// need root, by the case's words: [exit code, the natscope: line, the fix
// line]. The case's folder is {tmp}.

export const ROOT_ANSWERS: Record<string, [number, string, string]> = {
  'trace --record with an empty name': [
    2,
    '--record needs a file name, and it is empty',
    'name the file: --record run.jsonl',
  ],
  'trace --record in a folder that does not exist': [
    2,
    'cannot write the recording {tmp}/no/run.jsonl: the folder {tmp}/no does not exist',
    'choose a writable file for --record, e.g. --record run.jsonl',
  ],
  'trace --record of a folder': [
    2,
    'cannot write the recording {tmp}/dir: it is a folder',
    'name a file in it: --record {tmp}/dir/run.jsonl',
  ],
  'trace --record /dev/full': [
    2,
    'cannot write the recording /dev/full: no space left on its device',
    'choose a writable file for --record, e.g. --record run.jsonl',
  ],
  'trace --rules with no lab up': [1, 'no lab is up (prefix bi-)', 'sudo natscope lab up --prefix bi-'],
  'trace --rules of an unknown Service': [
    2,
    'unknown service or pod "redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'trace --rules of an unknown pod': [
    2,
    'unknown service or pod "pod/redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'trace --prefix of a lab that is not up': [
    1,
    'no lab with prefix bi- is up',
    'sudo natscope lab up --prefix bi-, or leave out --prefix to trace every namespace',
  ],
  'lab set masquerade-all maybe': [
    2,
    'masquerade-all takes on or off, not "maybe"',
    'natscope lab set masquerade-all on',
  ],
  'lab set an unknown setting': [
    2,
    'unknown setting "hairpin"',
    'settings: masquerade-all on|off, cluster-cidr <cidr>|none',
  ],
  'lab set cluster-cidr 010.244.0.0/16 (leading zero)': [
    2,
    'invalid CIDR "010.244.0.0/16": a number with a leading zero (iptables would read 010 as octal 8)',
    'did you mean 10.244.0.0/16?',
  ],
  'lab set cluster-cidr 0.0.0.0/0': [
    2,
    'invalid CIDR "0.0.0.0/0": it matches every address, so no client would count as outside the cluster',
    "give the pods' range (e.g. 10.244.0.0/16); to masquerade every client instead: natscope lab set masquerade-all on",
  ],
  'lab set cluster-cidr 10.244.0.1/16 (host bits set)': [
    2,
    'invalid CIDR "10.244.0.1/16": host bits are set',
    'did you mean 10.244.0.0/16?',
  ],
  'lab set cluster-cidr 10.244.0.0/-1': [
    2,
    'invalid CIDR "10.244.0.0/-1": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
  'lab set cluster-cidr with an empty value': [
    2,
    'invalid CIDR "": not an IPv4 network',
    'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16',
  ],
  'lab set cluster-cidr with no lab up': [1, 'no lab is up (prefix bi-)', 'sudo natscope lab up --prefix bi-'],
  'lab request with no lab up': [1, 'no lab is up (prefix bi-)', 'sudo natscope lab up --prefix bi-'],
  'vm run --share of a file': [2, '--share "/etc/hostname" is not a folder', 'share the folder it is in: --share /etc'],
  'vm run --share of a folder that does not exist': [
    2,
    '--share "{tmp}/none" does not exist',
    'create it first: mkdir -p {tmp}/none',
  ],
  'vm run --share of a relative path': [
    2,
    '--share "out" is not a full path',
    'give its full path: --share "$PWD/out"',
  ],
  'vm run --share with an empty path': [2, '--share "" is empty', 'name a folder: --share "$PWD/out"'],
  'NATSCOPE_VM_STACK=debian14': [
    2,
    'NATSCOPE_VM_STACK "debian14" is not a micro-VM stack',
    'use one of: debian12, debian13',
  ],
  'NATSCOPE_STATE_DIR a file, for lab status': [
    1,
    'cannot read {tmp}/file/bi-lab.json: {tmp}/file is a file, not a folder',
    'move {tmp}/file out of the way, or point natscope at a folder (NATSCOPE_STATE_DIR)',
  ],
  'NATSCOPE_STATE_DIR a file, for lab down': [
    1,
    "cannot create the state directory {tmp}/file: EEXIST: file already exists, mkdir '{tmp}/file'",
    'point NATSCOPE_STATE_DIR at a folder root can write',
  ],
  'NATSCOPE_STATE_DIR world-writable': [
    1,
    'the state directory {tmp}/open is not safe to use as root: {tmp}/open is writable by everyone (mode 0777)',
    "make it root's alone (chown root:root {tmp}/open && chmod 0755 {tmp}/open), or point NATSCOPE_STATE_DIR at a folder only root can write",
  ],
  'NATSCOPE_STATE_DIR a symlink': [
    1,
    'the state directory {tmp}/link is not safe to use as root: a symbolic link leads to it (it is /tmp)',
    "make it root's alone (chown root:root {tmp}/link && chmod 0755 {tmp}/link), or point NATSCOPE_STATE_DIR at a folder only root can write",
  ],
  'NATSCOPE_STATE_DIR owned by another user': [
    1,
    'the state directory {tmp}/theirs is not safe to use as root: {tmp}/theirs is owned by uid 65534, not root',
    "make it root's alone (chown root:root {tmp}/theirs && chmod 0755 {tmp}/theirs), or point NATSCOPE_STATE_DIR at a folder only root can write",
  ],
  'NATSCOPE_BPFTRACE naming no file': [
    1,
    'bpftrace not found ({tmp}/no-bpftrace)',
    'install it: apt-get install bpftrace (npm run setup does this)',
  ],
  'NATSCOPE_BPFTRACE naming a program that is not bpftrace': [
    1,
    '/bin/false --version did not give a bpftrace version (false (GNU coreutils) 9.1)',
    'reinstall bpftrace (apt-get install --reinstall bpftrace), or point NATSCOPE_BPFTRACE at a working one',
  ],
  'NATSCOPE_VM_ACCEL=warp': [
    2,
    'NATSCOPE_VM_ACCEL="warp" is not an accelerator natscope knows',
    'set it to kvm or tcg, or unset it to let natscope choose',
  ],
  'lab request of an unknown Service': [
    2,
    'unknown service or pod "redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'lab request of an unknown pod': [
    2,
    'unknown service or pod "pod/redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'lab request of an empty target': [
    2,
    'unknown service or pod ""',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'lab load of an unknown target': [
    2,
    'unknown service or pod "redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'lab ping of an unknown target': [
    2,
    'unknown service or pod "redis"',
    'valid targets: nginx, mysql, pod/nginx, pod/mysql',
  ],
  'lab rules of node3': [2, 'unknown node "node3"', 'nodes: node1, node2 (and vpn)'],
  'lab routes of an unknown host': [2, 'unknown host "router"', 'hosts: office, vpn, node1, node2'],
  'lab conntrack of an unknown node': [2, 'unknown node "node9"', 'nodes: node1, node2 (and vpn)'],
};
