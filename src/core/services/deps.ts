import type { RolloutEngine } from '../deploy/rollout-engine.ts';
import type { Clock, Logger } from '../ports/clock.ts';
import type { ConfigVault } from '../ports/secrets.ts';
import type { StateStore } from '../ports/store.ts';

export interface ServiceDeps {
  store: StateStore;
  vault: ConfigVault;
  clock: Clock;
  log: Logger;
  /**
   * The rollout engine. Absent in a store-only setup (unit tests): config releases then stay
   * `pending`, and deploy/ps/logs refuse with `runtime_unavailable`.
   */
  engine?: RolloutEngine;
  /** TCP ports something listens on right now (the router cannot take them as bind_port). */
  listeningPorts?: () => ReadonlySet<number>;
}
