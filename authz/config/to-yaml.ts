/**
 * YAML output (generated policies, envelopes), with the same library that reads every YAML input (`yaml`, YAML 1.2):
 * block style, keys in insertion order, no anchors, strings quoted only where YAML needs it.
 */
import { stringify } from 'yaml';

export function toYaml(value: unknown, lineWidth = 160): string {
  return stringify(value, { lineWidth, aliasDuplicateObjects: false, defaultStringType: 'PLAIN' });
}
