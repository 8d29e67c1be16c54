/**
 * Operational logging (pino, to stderr). Audit records go to the audit sink, never here. Log objects carry codes,
 * counts, agent names and rule names — never bodies, tokens, patient ids or raw paths.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'phiguard' } }, pino.destination({ fd: 2, sync: false }));
}
