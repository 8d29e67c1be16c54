/** The benchmarks' list-valued environment variables: words separated by spaces. */

/** The words of environment variable `name` (none when it is unset or blank). */
export const envWords = (name: string): string[] => (process.env[name] ?? '').split(' ').filter((s) => s !== '');

/** The `NAME=value` words of environment variable `name`, as environment entries for a child process. */
export const envAssignments = (name: string): Record<string, string> =>
  Object.fromEntries(
    envWords(name)
      .filter((s) => s.includes('='))
      .map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]),
  );
