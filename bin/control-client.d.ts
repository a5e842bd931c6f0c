// Types for bin/control-client.js (plain JavaScript, loaded before any bundle).
export declare const DEFAULT_STATE_DIR: string;
export declare function controlSocketPath(env: NodeJS.ProcessEnv): string;
export declare function runThroughDaemon(
  argv: string[],
  env?: NodeJS.ProcessEnv,
  io?: { stdout(text: string): void; stderr(text: string): void },
): Promise<number | null>;
