/**
 * Every command of `/pvdify` and `pvdify`, in the order `help` lists them. Adding a command:
 * write `commands/<name>.ts` (see README.md) and add it here.
 */
import type { CommandSpec } from './types.ts';
import { apps } from './apps.ts';
import { appsCreate } from './apps-create.ts';
import { appsDelete } from './apps-delete.ts';
import { appsInfo } from './apps-info.ts';
import { audit } from './audit.ts';
import { config } from './config.ts';
import { configGet } from './config-get.ts';
import { configSet } from './config-set.ts';
import { configUnset } from './config-unset.ts';
import { domains } from './domains.ts';
import { domainsAdd } from './domains-add.ts';
import { domainsRemove } from './domains-remove.ts';
import { help } from './help.ts';
import { releases } from './releases.ts';
import { releasesInfo } from './releases-info.ts';
import { deploy } from './deploy.ts';
import { rollback } from './rollback.ts';
import { ps } from './ps.ts';
import { psScale } from './ps-scale.ts';
import { psRestart } from './ps-restart.ts';
import { logs } from './logs.ts';

export const COMMANDS: readonly CommandSpec[] = [
  help,
  apps,
  appsCreate,
  appsInfo,
  appsDelete,
  deploy,
  rollback,
  releases,
  releasesInfo,
  ps,
  psScale,
  psRestart,
  logs,
  config,
  configSet,
  configUnset,
  configGet,
  domains,
  domainsAdd,
  domainsRemove,
  audit,
];
