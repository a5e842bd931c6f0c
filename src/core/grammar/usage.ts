/** Help replies, shared by the `help` command and by `--help` on any command. */
import { heading, message, record, table } from '../reply.ts';
import type { Reply } from '../reply.ts';
import { GLOBAL_FLAGS } from './spec.ts';
import type { CommandSpec } from './spec.ts';

/** The list of commands with one line each. */
export function commandListReply(commands: readonly CommandSpec[], prog: string): Reply {
  return {
    blocks: [
      heading(`${prog} COMMAND [ARGS…]`),
      table(
        ['COMMAND', 'DESCRIPTION'],
        commands.map((c) => [c.name, c.terminalOnly === true ? `${c.summary} (terminal only)` : c.summary]),
      ),
      message(`\`${prog} help COMMAND\` shows a command's arguments.`),
    ],
    json: {
      commands: commands.map((c) => ({
        name: c.name,
        summary: c.summary,
        usage: `${prog} ${c.usage}`,
        role: c.role,
        sideEffects: c.sideEffects,
        terminalOnly: c.terminalOnly === true,
      })),
    },
  };
}

/** Usage, flags and required role of one command. */
export function commandHelpReply(command: CommandSpec, prog: string): Reply {
  const flagRows: string[][] = [];
  for (const p of command.positionals) {
    if (p.flag) {
      const names = p.flag.short === undefined ? `--${p.flag.long}` : `-${p.flag.short}, --${p.flag.long}`;
      flagRows.push([`${names} ${p.label}`, `instead of the ${p.label} argument`]);
    }
  }
  for (const f of [...command.flags, ...GLOBAL_FLAGS]) {
    const names = f.short === undefined ? `--${f.name}` : `-${f.short}, --${f.name}`;
    flagRows.push([f.kind === 'value' ? `${names} ${f.valueLabel ?? 'VALUE'}` : names, f.description]);
  }
  const fields: Array<[string, string]> = [
    ['Usage', `${prog} ${command.usage}`],
    ['Role', command.role],
  ];
  if (command.terminalOnly === true) fields.push(['Where', 'terminal only (prints secret values)']);
  return {
    blocks: [heading(command.name), message(command.summary), record(fields), table(['FLAG', 'DESCRIPTION'], flagRows)],
    json: {
      name: command.name,
      summary: command.summary,
      usage: `${prog} ${command.usage}`,
      role: command.role,
      sideEffects: command.sideEffects,
      terminalOnly: command.terminalOnly === true,
      flags: flagRows.map(([flag, description]) => ({ flag, description })),
    },
  };
}
