/**
 * A fast path for checked CEL expressions: the common subset of policy CEL compiled to JavaScript closures, with
 * @marcbachmann/cel-js as the authority.
 *
 * cel-js evaluates by walking its AST, dispatching each node through overload resolution on runtime types; for
 * the example scribe policy (8 rules) that is ~5 µs per Check. Policy expressions are mostly field selections,
 * string equality, list membership, `size`, `has` and `all`/`exists` over the attribute model, whose runtime types
 * are known (attributes.ts), so they compile to closures that do the same work without dispatch.
 *
 * The contract that keeps this exact: the fast path returns a result only where it is certain cel-js returns the
 * same one, and otherwise *bails* (throws); the caller then evaluates the expression with cel-js. So:
 * - only expressions built entirely from the supported nodes below are compiled; any other node (arithmetic other
 *   than string concatenation, timestamps, maps literals, conversions, optional syntax, other functions) leaves the
 *   whole expression to cel-js;
 * - at run time every operation checks its operand types and bails on anything but the one case it implements
 *   (`==` only on two strings, two bools, two ints or two doubles; `in` only with a string or bool on the left;
 *   field access only on plain objects that have the key; `size` only of lists; ...);
 * - one CEL error is modelled, the common one: "No such key" from selecting an absent field or map key
 *   (`claims.purpose_of_use` on a token without it). It is a value (CelKeyError) that propagates and is absorbed
 *   exactly as cel-js does it: `false && error` and `error && false` are false, `true || error` and
 *   `error || true` true, and `all`/`exists` report the first error only if no element decided (cel-js
 *   operators.js `&&`/`||`/_logicalOp, iterateQuantifier). cel-js builds an Error with a highlighted source
 *   excerpt for it, ~30 µs, and a break-glass activation over an ordinary token hits it on every denied request.
 *   Here it is a PhiguardError built once per key at compile time, so evaluating allocates nothing; only a key
 *   computed from the request (`m[k]`) gets its error built at evaluation (without a stack, see keyError);
 * - every other error condition (no such overload, a non-bool condition, index out of bounds) bails;
 * - the result must be a bool or that error, or it bails.
 * Semantics mirrored from cel-js 8 (overloads.js, operators.js, macros.js) and cel-spec langdef.md. The
 * differential test (test/policy/cel-fast-path.test.ts) evaluates thousands of generated expressions both ways.
 */

import { PhiguardError } from '../model/index.js';

/**
 * Thrown to leave an evaluation to cel-js; never escapes this module (withFastPath catches it). One preallocated
 * error: bailing must be cheap, and throwing a prebuilt Error costs what throwing any value costs.
 */
const BAIL = new PhiguardError('internal', 'CEL fast path: deferred to cel-js');

/**
 * CEL's "No such key" error: cel-js's message (first line). The key comes from the expression or, for `m[k]`, from
 * the request, exactly as in cel-js's own message. Thrown by a compiled program like cel-js throws its error.
 */
export class CelKeyError extends PhiguardError {
  override readonly name: string = 'CelKeyError';
  constructor(readonly key: string) {
    super('evaluation', `No such key: ${key}`);
  }
}

/** A CelKeyError built without a stack: nobody reads it, and capturing one costs ~5 µs at evaluation depth. */
function keyError(key: string): CelKeyError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CelKeyError(key);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

type Slots = unknown[];
type Fn = (ctx: Record<string, unknown>, slots: Slots) => unknown;

interface Node {
  op: string;
  args: unknown;
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as { op?: unknown }).op === 'string' && 'args' in v;
}

function nodeArray(v: unknown): Node[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Node[] = [];
  for (const x of v as unknown[]) {
    if (!isNode(x)) return undefined;
    out.push(x);
  }
  return out;
}

function bail(): never {
  throw BAIL;
}

/**
 * A plain object, decided as cel-js's fieldAccess decides it: by `constructor` (undefined or Object). An object
 * whose own `constructor` key holds something else (a hostile JWT claim, say) is not one: cel-js rejects it.
 */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof CelKeyError) return false;
  const k: unknown = (v as { constructor?: unknown }).constructor;
  return k === undefined || k === Object;
}

/**
 * Field or map-key selection (operators.js fieldAccess): an own key with a defined value, else No such key —
 * `missing`, the prebuilt error for a key known at compile time, or one built now for a key from the request.
 */
function field(o: unknown, key: string, missing?: CelKeyError): unknown {
  if (o instanceof CelKeyError) return o;
  if (o instanceof Map) {
    // operators.js fieldAccess on a Map: `get`, a defined value, else No such key.
    const m: unknown = o.get(key);
    return m === undefined ? (missing ?? keyError(key)) : m;
  }
  if (!isPlainObject(o)) return bail();
  const v = Object.hasOwn(o, key) ? o[key] : undefined;
  return v === undefined ? (missing ?? keyError(key)) : v;
}

/**
 * CEL `==` for the cases cel-js decides with `===` (same primitive type, overloads.js `binaryOverload(t, '==', t)`).
 */
function eq(a: unknown, b: unknown): boolean {
  const t = typeof a;
  if (t !== typeof b || (t !== 'string' && t !== 'boolean' && t !== 'bigint' && t !== 'number')) bail();
  return a === b;
}

/** Ordering on two ints or two doubles. */
function ordered(a: unknown, b: unknown): void {
  const t = typeof a;
  if (t !== typeof b || (t !== 'bigint' && t !== 'number')) bail();
}

interface Scope {
  names: string[];
}

type Re2 = (s: string, pattern: string) => boolean;

/** Strict binary operators: the left operand's error first, then the right's (cel-js evaluateBinary). */
function strict2(x: Fn, y: Fn, op: (p: unknown, q: unknown) => unknown): Fn {
  return (c, s) => {
    const p = x(c, s);
    if (p instanceof CelKeyError) return p;
    const q = y(c, s);
    if (q instanceof CelKeyError) return q;
    return op(p, q);
  };
}

/** Compiles exactly `count` argument nodes, or undefined if any is outside the subset. */
function compileArgs(a: unknown, count: number, scope: Scope, re2: Re2): Fn[] | undefined {
  const nodes = nodeArray(a);
  if (nodes?.length !== count) return undefined;
  const fns: Fn[] = [];
  for (const node of nodes) {
    const f = compileNode(node, scope, re2);
    if (!f) return undefined;
    fns.push(f);
  }
  return fns;
}

function compileValue(v: unknown): Fn | undefined {
  if (typeof v !== 'string' && typeof v !== 'boolean' && typeof v !== 'bigint' && typeof v !== 'number')
    return undefined;
  return () => v;
}

function compileId(a: unknown, scope: Scope): Fn | undefined {
  if (typeof a !== 'string') return undefined;
  const slot = scope.names.lastIndexOf(a);
  if (slot !== -1) return (_c, s) => s[slot];
  const name = a;
  return (c) => {
    if (!Object.hasOwn(c, name)) bail();
    const v = c[name];
    if (v === undefined) bail();
    return v;
  };
}

/** `a.b`: the key is known now, so is its No such key error. */
function compileSelect(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  if (!Array.isArray(a) || !isNode(a[0]) || typeof a[1] !== 'string') return undefined;
  const obj = compileNode(a[0], scope, re2);
  const key: string = a[1];
  if (!obj) return undefined;
  const missing = keyError(key);
  return (c, s) => field(obj(c, s), key, missing);
}

/** `m[k]` and `l[i]`. */
function compileIndex(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  const [obj, idx] = compileArgs(a, 2, scope, re2) ?? [];
  if (!obj || !idx) return undefined;
  // `m["literal"]` (request.headers["x-y"]): the key is known now, so is its error.
  const lit: unknown = Array.isArray(a) ? a[1] : undefined;
  const literal = isNode(lit) && lit.op === 'value' && typeof lit.args === 'string' ? lit.args : undefined;
  const missing = literal !== undefined ? keyError(literal) : undefined;
  return strict2(obj, idx, (o, k) => {
    if (typeof k === 'string') return field(o, k, k === literal ? missing : undefined);
    if (typeof k === 'bigint' && Array.isArray(o) && k >= 0n && k < BigInt(o.length)) {
      const v: unknown = o[Number(k)];
      if (v === undefined) bail();
      return v;
    }
    return bail();
  });
}

function compileNot(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  if (!isNode(a)) return undefined;
  const x = compileNode(a, scope, re2);
  if (!x) return undefined;
  return (c, s) => {
    const v = x(c, s);
    if (v instanceof CelKeyError) return v;
    if (typeof v !== 'boolean') return bail();
    return !v;
  };
}

/** `&&` (`decisive` false) and `||` (`decisive` true). */
function compileLogical(decisive: boolean, a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  const [x, y] = compileArgs(a, 2, scope, re2) ?? [];
  if (!x || !y) return undefined;
  // operators.js: the left is evaluated as a value-or-error; the deciding value (false for &&, true for ||)
  // on either side wins over an error on the other; two errors report the right one (it is thrown last).
  return (c, s) => {
    const p = x(c, s);
    if (p === decisive) return decisive;
    if (p !== !decisive && !(p instanceof CelKeyError)) return bail();
    const q = y(c, s);
    if (q === decisive) return decisive;
    if (q === !decisive) return p;
    if (q instanceof CelKeyError) return q;
    return bail();
  };
}

function compileConditional(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  const [cond, yes, no] = compileArgs(a, 3, scope, re2) ?? [];
  if (!cond || !yes || !no) return undefined;
  return (c, s) => {
    const v = cond(c, s);
    if (v === true) return yes(c, s);
    if (v === false) return no(c, s);
    if (v instanceof CelKeyError) return v;
    return bail();
  };
}

/** `v in coll`, for a string or bool `v`. */
function membership(v: unknown, coll: unknown): unknown {
  if (typeof v !== 'string' && typeof v !== 'boolean') return bail();
  // cel-js picks the overload by the list's runtime type, taken from its first element: an element type
  // other than the left operand's is "no such overload" there, so bail. Membership is then
  // overloads.js listMembership, whose isEqual(string|bool, e) is `v === e` for every element.
  if (Array.isArray(coll)) {
    if (coll.length === 0) return false;
    if (typeof coll[0] !== typeof v) return bail();
    return coll.includes(v);
  }
  // overloads.js mapIncludes: an own key whose value is not undefined.
  if (typeof v === 'string' && isPlainObject(coll)) return Object.hasOwn(coll, v) && coll[v] !== undefined;
  if (typeof v === 'string' && coll instanceof Map) return coll.get(v) !== undefined;
  return bail();
}

function compileComparison(op: string, a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  const [x, y] = compileArgs(a, 2, scope, re2) ?? [];
  if (!x || !y) return undefined;
  switch (op) {
    case '==':
      return strict2(x, y, eq);
    case '!=':
      return strict2(x, y, (p, q) => !eq(p, q));
    case '<':
      return strict2(x, y, (p, q) => {
        ordered(p, q);
        return (p as number) < (q as number);
      });
    case '<=':
      return strict2(x, y, (p, q) => {
        ordered(p, q);
        return (p as number) <= (q as number);
      });
    case '>':
      return strict2(x, y, (p, q) => {
        ordered(p, q);
        return (p as number) > (q as number);
      });
    case '>=':
      return strict2(x, y, (p, q) => {
        ordered(p, q);
        return (p as number) >= (q as number);
      });
    case 'in':
      return strict2(x, y, membership);
    case '+':
      // overloads.js `string + string` only; every other operand pair (lists, numbers, a dyn of another type) bails.
      return strict2(x, y, (p, q) => (typeof p === 'string' && typeof q === 'string' ? p + q : bail()));
    default:
      return undefined;
  }
}

function compileList(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  const items = nodeArray(a);
  if (!items) return undefined;
  const fns: Fn[] = [];
  for (const i of items) {
    const f = compileNode(i, scope, re2);
    if (!f) return undefined;
    fns.push(f);
  }
  // Literal lists of literals are built once (nothing on the fast path mutates a list).
  if (items.every((i) => i.op === 'value')) {
    const constant = fns.map((f) => f({}, []));
    return () => constant;
  }
  // operators.js resolveAstArray evaluates elements last to first: the last element's error is the one seen.
  return (c, s) => {
    const out: unknown[] = new Array(fns.length);
    for (let i = fns.length - 1; i >= 0; i--) {
      const v = (fns[i] ?? bail)(c, s);
      if (v instanceof CelKeyError) return v;
      out[i] = v;
    }
    return out;
  };
}

type NodeCompiler = (a: unknown, scope: Scope, re2: Re2) => Fn | undefined;
const comparison =
  (op: string): NodeCompiler =>
  (a, scope, re2) =>
    compileComparison(op, a, scope, re2);

/** The compiler of each AST node kind the fast path takes; any other kind is left to cel-js. */
const NODE_COMPILERS: Readonly<Record<string, NodeCompiler>> = {
  value: (a) => compileValue(a),
  id: (a, scope) => compileId(a, scope),
  '.': compileSelect,
  '[]': compileIndex,
  '!_': compileNot,
  '&&': (a, scope, re2) => compileLogical(false, a, scope, re2),
  '||': (a, scope, re2) => compileLogical(true, a, scope, re2),
  '?:': compileConditional,
  '==': comparison('=='),
  '!=': comparison('!='),
  '<': comparison('<'),
  '<=': comparison('<='),
  '>': comparison('>'),
  '>=': comparison('>='),
  in: comparison('in'),
  '+': comparison('+'),
  list: compileList,
  call: compileCall,
  rcall: compileReceiverCall,
};

function compileNode(n: Node, scope: Scope, re2: Re2): Fn | undefined {
  const compile = Object.hasOwn(NODE_COMPILERS, n.op) ? NODE_COMPILERS[n.op] : undefined;
  return compile?.(n.args, scope, re2);
}

function sizeOf(v: unknown): unknown {
  if (v instanceof CelKeyError) return v;
  if (!Array.isArray(v)) return bail();
  return BigInt(v.length);
}

function compileCall(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  if (!Array.isArray(a) || typeof a[0] !== 'string') return undefined;
  const name: string = a[0];
  const args = nodeArray(a[1]);
  if (!args) return undefined;
  if (name === 'size' && args.length === 1 && args[0]) {
    const x = compileNode(args[0], scope, re2);
    if (!x) return undefined;
    return (c, s) => sizeOf(x(c, s));
  }
  if (name === 'has' && args.length === 1 && args[0]) return compileHas(args[0], scope, re2);
  if (
    name === 're2Matches' &&
    args.length === 2 &&
    args[0] &&
    args[1]?.op === 'value' &&
    typeof args[1].args === 'string'
  ) {
    const x = compileNode(args[0], scope, re2);
    return x ? matcher(x, args[1].args, re2) : undefined;
  }
  return undefined;
}

/** `s.matches(p)` after the load-time rewrite to re2Matches (cel-env.ts): the pattern is a string literal. */
function matcher(subject: Fn, pattern: string, re2: Re2): Fn {
  return (c, s) => {
    const v = subject(c, s);
    if (v instanceof CelKeyError) return v;
    if (typeof v !== 'string') return bail();
    return re2(v, pattern);
  };
}

/** `has(a.b.c)`: macros.js createHasExpander — every step but the last must exist; the last is tested. */
function compileHas(arg: Node, scope: Scope, re2: Re2): Fn | undefined {
  if (arg.op !== '.' || !Array.isArray(arg.args) || !isNode(arg.args[0]) || typeof arg.args[1] !== 'string')
    return undefined;
  const obj = compileNode(arg.args[0], scope, re2);
  const key: string = arg.args[1];
  if (!obj) return undefined;
  return (c, s) => {
    const o = obj(c, s);
    if (o instanceof CelKeyError) return o;
    if (o instanceof Map) return o.get(key) !== undefined;
    if (!isPlainObject(o)) return bail();
    return Object.hasOwn(o, key) && o[key] !== undefined;
  };
}

function compileReceiverCall(a: unknown, scope: Scope, re2: Re2): Fn | undefined {
  if (!Array.isArray(a) || typeof a[0] !== 'string' || !isNode(a[1])) return undefined;
  const name: string = a[0];
  const args = nodeArray(a[2]);
  if (!args) return undefined;
  if (
    (name === 'all' || name === 'exists') &&
    args.length === 2 &&
    args[0]?.op === 'id' &&
    typeof args[0].args === 'string' &&
    args[1]
  ) {
    const coll = compileNode(a[1], scope, re2);
    const slot = scope.names.length;
    const pred = compileNode(args[1], { names: [...scope.names, args[0].args] }, re2);
    if (!coll || !pred) return undefined;
    // operators.js iterateQuantifier: the first deciding element (false for all, true for exists) decides; an
    // element whose predicate errs is skipped, and the first such error is the result only if none decided.
    const decisive = name === 'exists';
    return (c, s) => {
      const list = coll(c, s);
      if (list instanceof CelKeyError) return list;
      if (!Array.isArray(list)) return bail();
      let error: CelKeyError | undefined;
      for (const item of list as unknown[]) {
        s[slot] = item;
        const v = pred(c, s);
        if (v === decisive) return decisive;
        if (v === !decisive) continue;
        if (v instanceof CelKeyError) error ??= v;
        else return bail();
      }
      return error ?? !decisive;
    };
  }
  const recv = compileNode(a[1], scope, re2);
  if (!recv) return undefined;
  if (name === 'size' && args.length === 0) return (c, s) => sizeOf(recv(c, s));
  if ((name === 'startsWith' || name === 'endsWith' || name === 'contains') && args.length === 1 && args[0]) {
    const arg = compileNode(args[0], scope, re2);
    if (!arg) return undefined;
    // functions.js: a.startsWith(b), a.endsWith(b), a.includes(b) on two strings. Arguments are evaluated before
    // the receiver (resolveAstArray runs last to first), so the argument's error is the one seen.
    return strict2(arg, recv, (p, v) => {
      if (typeof v !== 'string' || typeof p !== 'string') return bail();
      return name === 'startsWith' ? v.startsWith(p) : name === 'endsWith' ? v.endsWith(p) : v.includes(p);
    });
  }
  if (name === 're2Matches' && args.length === 1 && args[0]?.op === 'value' && typeof args[0].args === 'string')
    return matcher(recv, args[0].args, re2);
  return undefined;
}

export type CelProgram = (ctx: Record<string, unknown>) => unknown;

/**
 * Wraps a cel-js program with the fast path when its AST is in the supported subset. The returned program gives
 * what `slow(ctx)` gives: the same bool, or an error — thrown by cel-js, or, for "No such key", thrown as a
 * CelKeyError with cel-js's message.
 */
export function withFastPath(ast: unknown, slow: CelProgram, re2: Re2): { program: CelProgram; fast: boolean } {
  const fn = isNode(ast) ? compileNode(ast, { names: [] }, re2) : undefined;
  if (!fn) return { program: slow, fast: false };
  const slots: Slots = [];
  const program: CelProgram = (ctx) => {
    let v: unknown;
    try {
      v = fn(ctx, slots);
    } catch {
      // BAIL, or anything unexpected: cel-js decides.
      return slow(ctx);
    }
    if (typeof v === 'boolean') return v;
    if (v instanceof CelKeyError) throw v;
    return slow(ctx);
  };
  return { program, fast: true };
}

/** For tests: the fast path alone. Returns a bool or a CelKeyError; throws (isBail) where it would defer to cel-js. */
export function fastOnly(ast: unknown, re2: Re2): ((ctx: Record<string, unknown>) => unknown) | undefined {
  const fn = isNode(ast) ? compileNode(ast, { names: [] }, re2) : undefined;
  if (!fn) return undefined;
  const slots: Slots = [];
  return (ctx) => {
    const v = fn(ctx, slots);
    if (typeof v !== 'boolean' && !(v instanceof CelKeyError)) bail();
    return v;
  };
}

/** Whether `e` is the fast path's signal to defer to cel-js. */
export function isBail(e: unknown): boolean {
  return e === BAIL;
}
