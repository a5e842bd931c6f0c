/** Progress of a rollout, step by step, for the terminal and (later) the Slack message. */
export const DEPLOY_STEPS = ['lock', 'snapshot', 'pull', 'env', 'start', 'health', 'switch', 'drain', 'finish'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number] | 'restart' | 'scale' | 'stop';

export interface ProgressEvent {
  app: string;
  release: number | null;
  step: DeployStep;
  status: 'started' | 'ok' | 'failed' | 'skipped';
  /** Set on ok/failed. */
  durationMs?: number;
  /** One line, no secrets. */
  detail?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;
