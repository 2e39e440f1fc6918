// The kind lab (`--lab kind`): the incident on a real kind cluster (1 control
// plane, 2 workers), an office client and a VPN router in Docker, behind the
// same Lab interface and commands as the netns lab. What session.ts calls:
//   kindUp       create or reuse the cluster, stage the incident, prove it
//   kindDown     remove what natscope created, and only that
//   openKindLab  the running lab, for lab request/set/rules/… and tracing

export { kindUp, type KindUpOptions } from './up.js';
export { kindDown, type KindDownOptions } from './down.js';
export { openKindLab, KindLab } from './running.js';
