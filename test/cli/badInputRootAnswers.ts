// The answers natscope gives to the bad inputs of test/cli/badInputs.ts that
// need root, by the case's words: [exit code, the natscope: line, the fix
// line]. The case's folder is {tmp}.

export const ROOT_ANSWERS: Record<string, [number, string, string]> = {};
