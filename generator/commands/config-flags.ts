/**
 * A configuration schema's view from the command line: the flag and environment variable behind each key, so a
 * validation error names what the user typed (`--port / PHIGUARD_PORT`), and `--help` shows each default.
 */
import type { Command, Option } from 'commander';
import type { z } from 'zod';

function optionFor(cmd: Command, key: PropertyKey | undefined): Option | undefined {
  return typeof key === 'string' ? cmd.options.find((o) => o.attributeName() === key) : undefined;
}

/** `--port / PHIGUARD_PORT`, or the key itself when no flag sets it. */
export function flagName(cmd: Command, key: PropertyKey | undefined): string {
  const o = optionFor(cmd, key);
  if (o === undefined) return typeof key === 'string' ? key : 'configuration';
  return o.envVar !== undefined ? `${o.long ?? o.flags} / ${o.envVar}` : (o.long ?? o.flags);
}

/**
 * One line per validation issue, naming the flag and its environment variable: `is required` for a value nobody
 * gave, the message and the value given otherwise.
 */
export function flagIssues(
  cmd: Command,
  issues: readonly z.core.$ZodIssue[],
  given: Readonly<Record<string, unknown>>,
): string[] {
  return issues.map((i) => {
    const key = i.path[0];
    const name = flagName(cmd, key);
    const value = typeof key === 'string' ? given[key] : undefined;
    if (value === undefined && i.path.length === 1) return `${name} is required`;
    // zod's coercion reports `received NaN`; the user gave text.
    const message = i.message.replace(/^Invalid input: /, '').replace(/, received NaN$/, '');
    const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    return `${name}: ${message}${shown}`;
  });
}

/** Appends `(default: …)` to each option whose key the schema defaults, as the schema would fill it in. */
export function describeDefaults(cmd: Command, defaults: Readonly<Record<string, unknown>>): Command {
  for (const o of cmd.options) {
    const d = defaults[o.attributeName()];
    if (d === undefined || o.description.includes('default')) continue;
    const shown = Array.isArray(d) ? d.join(',') || 'none' : typeof d === 'string' ? d : JSON.stringify(d);
    o.description = `${o.description} (default: ${shown})`;
  }
  return cmd;
}
