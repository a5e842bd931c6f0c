import { z } from 'zod';
import { InvalidInputError } from '../src/core/errors.ts';
import { suggest } from '../src/core/grammar/suggest.ts';
import { commandHelpReply, commandListReply } from '../src/core/grammar/usage.ts';
import { shown } from '../src/core/grammar/parse.ts';
import { defineCommand } from './types.ts';

export const help = defineCommand({
  name: 'help',
  summary: 'List the commands, or show how to use one',
  usage: 'help [COMMAND]',
  positionals: [{ name: 'command', label: 'COMMAND', required: false }],
  flags: [],
  args: z.object({ command: z.string().optional() }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    if (args.command === undefined) return commandListReply(ctx.commands, ctx.prog);
    const command = ctx.commands.find((c) => c.name === args.command);
    if (command) return commandHelpReply(command, ctx.prog);
    const guess = suggest(args.command, ctx.commands.map((c) => c.name));
    throw new InvalidInputError(
      `there is no command ${shown(args.command)}${guess === undefined ? '' : `. Did you mean \`${guess}\`?`}`,
      `\`${ctx.prog} help\` lists the commands`,
    );
  },
});
