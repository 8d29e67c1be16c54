/**
 * Compiles one CEL expression: parse, rewrite `matches` to the RE2-backed `re2Matches`, type-check (must be
 * `bool`), and return an evaluator. Compile once at load; the Check path only evaluates.
 */
import { err, ok, PhiguardError, type Result } from '../model/index.js';
import { celEnvironment, celEvalEnvironment, compileRe2, re2Matches } from './cel-env.js';
import { withFastPath, type CelProgram } from './cel-fast-path.js';

export type { CelProgram };

/** A compiled policy expression. */
export interface CompiledExpression {
  /** The evaluator: the fast path where it applies, cel-js otherwise. */
  program: CelProgram;
  /** cel-js alone (the authority the fast path is tested against). */
  reference: CelProgram;
  source: string;
  /** Whether the expression compiled to the fast path. */
  fastPath: boolean;
}

interface AstNode {
  op: string;
  args: unknown;
  start: number;
  end: number;
}

function isNode(v: unknown): v is AstNode {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { op?: unknown }).op === 'string' &&
    typeof (v as { start?: unknown }).start === 'number'
  );
}

function walk(v: unknown, visit: (n: AstNode) => void): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, visit);
  } else if (isNode(v)) {
    visit(v);
    walk(v.args, visit);
  }
}

interface Edit {
  from: number;
  to: number;
  text: string;
}

/** First line of an engine error, without the engine's stack. Policy text is not PHI, so it may be echoed. */
function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/**
 * The engine's message with where in the expression it failed: `(column 7)`, or `(line 2, column 3)` for a
 * multi-line one. cel-js puts the offset on the error's AST node (`node.pos`).
 */
function located(e: unknown, source: string): string {
  const node = (e as { node?: { pos?: unknown } } | undefined)?.node;
  const pos = typeof node?.pos === 'number' ? node.pos : undefined;
  if (pos === undefined || pos < 0 || pos > source.length) return firstLine(e);
  const before = source.slice(0, pos).split('\n');
  const column = (before.at(-1)?.length ?? 0) + 1;
  const where = before.length > 1 ? `line ${before.length}, column ${column}` : `column ${column}`;
  return `${firstLine(e)} (${where})`;
}

/** Finds `matches` calls and plans their rewrite; validates each pattern as RE2 at load. */
function planRegexRewrite(source: string, ast: unknown): { edits: Edit[] } | { error: string } {
  const edits: Edit[] = [];
  let error: string | undefined;
  walk(ast, (n) => {
    if (error !== undefined) return;
    if ((n.op === 'rcall' || n.op === 'call') && Array.isArray(n.args) && n.args[0] === 'matches') {
      const argList: unknown = n.op === 'rcall' ? n.args[2] : n.args[1];
      const pattern: unknown = Array.isArray(argList) ? (argList as unknown[])[argList.length - 1] : undefined;
      if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') {
        error = 'matches() needs a string literal pattern (patterns are compiled and checked at load)';
        return;
      }
      try {
        compileRe2(pattern.args);
      } catch (e) {
        error = `invalid RE2 pattern ${JSON.stringify(pattern.args)}: ${firstLine(e)}`;
        return;
      }
      if (n.op === 'rcall') {
        const receiver: unknown = n.args[1];
        if (!isNode(receiver)) return;
        const between = source.slice(receiver.end, pattern.start);
        const m = /^(\s*\)?\s*\.\s*)matches(\s*\(\s*)$/.exec(between);
        if (!m) {
          error = 'could not rewrite matches() call';
          return;
        }
        edits.push({ from: receiver.end, to: pattern.start, text: `${m[1] ?? ''}re2Matches${m[2] ?? ''}` });
      } else {
        if (source.slice(n.start, n.start + 7) !== 'matches') {
          error = 'could not rewrite matches() call';
          return;
        }
        edits.push({ from: n.start, to: n.start + 7, text: 're2Matches' });
      }
    }
  });
  return error !== undefined ? { error } : { edits };
}

/** A compile failure: the message is what a policy author needs; the engine's error is kept as the cause. */
const rejected = (message: string, cause?: unknown): Result<never> =>
  err(new PhiguardError('policy', message, { cause }));

/** Compiles a policy expression. Never throws: a failure is a `policy` error saying why. */
export function compileExpression(source: string): Result<CompiledExpression> {
  const env = celEnvironment();
  let parsed: { ast: unknown };
  try {
    parsed = env.parse(source);
  } catch (e) {
    return rejected(`CEL syntax error: ${located(e, source)}`, e);
  }
  const plan = planRegexRewrite(source, parsed.ast);
  if ('error' in plan) return rejected(plan.error);
  let rewritten = source;
  for (const e of [...plan.edits].sort((a, b) => b.from - a.from)) {
    rewritten = rewritten.slice(0, e.from) + e.text + rewritten.slice(e.to);
  }
  let checked: { valid: boolean; type?: string; error?: unknown };
  try {
    checked = env.check(rewritten);
  } catch (e) {
    return rejected(`CEL type error: ${located(e, rewritten)}`, e);
  }
  if (!checked.valid) return rejected(`CEL type error: ${located(checked.error, rewritten)}`, checked.error);
  if (checked.type !== 'bool') return rejected(`expression must be bool, is ${checked.type ?? 'unknown'}`);
  try {
    // Checked above in the strict environment; evaluated in the dyn one (cel-env.ts explains why).
    const parsedForEval = celEvalEnvironment().parse(rewritten);
    // cel-js type-checks an AST on every evaluation until it has been checked once (it then caches the checked
    // type on the AST): check it here, at load, so the Check path only evaluates.
    const evalCheck = parsedForEval.check();
    if (!evalCheck.valid) return rejected(`CEL type error: ${firstLine(evalCheck.error)}`, evalCheck.error);
    const slow = parsedForEval as unknown as CelProgram;
    // The common subset runs as compiled closures; cel-js stays the authority (cel-fast-path.ts).
    const { program, fast } = withFastPath(parsedForEval.ast, slow, re2Matches);
    return ok({ program, reference: slow, source, fastPath: fast });
  } catch (e) {
    return rejected(`CEL error: ${firstLine(e)}`, e);
  }
}
