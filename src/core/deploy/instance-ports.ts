/**
 * Instance ports are derived, not allocated: each app owns a block of 40 ports chosen by its
 * router port (`bind_port`), 20 per colour, one per web instance. Two apps can never collide
 * and no allocation state has to survive a crash. Apps with bind_port 3000–3568 map below
 * 32768, Linux's default ephemeral range; a port that is taken anyway is refused before start.
 */
import type { Colour } from '../model.ts';

export const INSTANCE_PORT_BASE = 10000;
export const PORTS_PER_COLOUR = 20;

export function instancePort(bindPort: number, colour: Colour, index: number): number {
  if (index < 1 || index > PORTS_PER_COLOUR) throw new RangeError(`instance index ${index} out of 1..${PORTS_PER_COLOUR}`);
  return INSTANCE_PORT_BASE + (bindPort - 3000) * 2 * PORTS_PER_COLOUR + (colour === 'green' ? PORTS_PER_COLOUR : 0) + index - 1;
}

export function otherColour(colour: Colour | null | undefined): Colour {
  return colour === 'blue' ? 'green' : 'blue';
}
