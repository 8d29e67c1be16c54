/** A configuration problem, located: file, YAML document index (0-based), field path. */
export interface Finding {
  code: string;
  severity: 'error' | 'warning';
  file: string;
  document: number;
  path: string;
  message: string;
}

export function formatFinding(f: Finding): string {
  const where = `${f.file}#${f.document}${f.path ? ` ${f.path}` : ''}`;
  return `${f.severity} ${f.code} at ${where}: ${f.message}`;
}
