import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes a project of one task kind, `echo-n`: a short bash script printing `{"n": $INPUT_N}` as
 * its JSON output. The restart tests start it under load through several servers.
 */
export function writeEchoProject(dir: string, workerName: string): void {
  writeFileSync(join(dir, "echo-n.sh"), 'sleep 0.05\nprintf \'{"n": %s}\\n\' "$INPUT_N"\n');
  writeFileSync(
    join(dir, "kiln.yaml"),
    `worker: { name: ${workerName}, queue: default, concurrency: 4 }
tasks:
  - kind: echo-n
    command: bash
    args: ["echo-n.sh"]
    input_format: env
    output_format: json_stdout
`,
  );
}
