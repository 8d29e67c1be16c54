/**
 * A channel to one of phiguard's worker threads (the decision thread, the audit writer), both ends of it.
 *
 * A thread boundary is a boundary: each end parses every message it receives with the caller's zod schema (once per
 * message, never per item of a batch), and a message the schema refuses fails the channel. Messages are objects
 * tagged with `t`, and two tags belong to the channel itself: the close handshake (the parent sends `close`; the
 * worker flushes what it holds, answers with its `closed` message and closes its port).
 *
 * The parent end (`startWorkerChannel`) turns everything that can go wrong with the thread (it crashed, exited when
 * not asked to, sent a message outside the protocol) into one failure callback with a code, called once, so its
 * owner fails closed in one place. The worker end (`connectToParent`) drops every message after a `fatal` (a
 * message only a bug could send), lets its owner flush what must not be lost, and ends the thread with
 * `FATAL_EXIT_CODE`; the parent sees the exit.
 */
import { parentPort, Worker, type ResourceLimits } from 'node:worker_threads';
import { z } from 'zod';

/** Every message on a channel: an object tagged with its type. */
export interface Tagged {
  t: string;
}

/** The parent's half of the close handshake; every protocol to a worker accepts it. */
export const CloseSchema = z.object({ t: z.literal('close') });
export type Close = z.infer<typeof CloseSchema>;
const CLOSE: Close = { t: 'close' };

/** The worker's half of the close handshake: its message tagged `closed` (it may carry a summary). */
export type Closed<M extends Tagged> = Extract<M, { t: 'closed' }>;

/** Exit code of a worker that stopped itself on a message only a bug could send (EX_SOFTWARE). */
export const FATAL_EXIT_CODE = 70;

export interface WorkerChannelOptions<In extends Tagged> {
  /** `import.meta.url` of a module beside the worker's entry. */
  beside: string;
  /** The entry's file name without extension (`decision-thread`); also the prefix of the failure codes. */
  entry: string;
  /** Handed to the worker as `workerData` (the worker validates it: it is a message too). */
  workerData: unknown;
  /** The worker's V8 heap limits (Node's `resourceLimits`); Node's defaults when unset. */
  resourceLimits?: ResourceLimits;
  /** Parses every message from the worker; one it refuses fails the channel (`<entry>-invalid-message`). */
  schema: z.ZodType<In>;
  /** Each valid message from the worker, `closed` included. */
  onMessage(message: In): void;
  /**
   * Called once, on the first failure: `<entry>-crashed` (an uncaught error in the thread), `<entry>-exited-<code>`
   * (it ended before `close()` or `terminate()`), `<entry>-invalid-message`, or a code given to `fail`.
   */
  onFailure(code: string): void;
}

/** The parent end of a worker channel. `Out`, the messages to the worker, must include `Close`. */
export interface WorkerChannel<Out extends Tagged> {
  readonly worker: Worker;
  /** Sends a message to the worker, its ArrayBuffers in `transfer` moved rather than copied. Nothing once it exited. */
  post(message: Out, transfer?: readonly ArrayBuffer[]): void;
  /** Fails the channel with the caller's code: a valid message that breaks the protocol's own rules. */
  fail(code: string): void;
  /** The first failure's code, if any. */
  failure(): string | undefined;
  /**
   * The close handshake: sends `close`, waits for the worker's `closed` (or its exit), then terminates it. Its exit
   * is no failure from here on. Every call returns the same promise.
   */
  close(): Promise<void>;
  /** Ends the worker without the handshake (it never started); its exit is no failure. */
  terminate(): Promise<void>;
}

/** Starts the worker `entry` beside `beside` and its channel. */
export function startWorkerChannel<In extends Tagged, Out extends Tagged>(
  options: WorkerChannelOptions<In>,
): WorkerChannel<Out> {
  const { entry, schema } = options;
  const worker = startWorker(options.beside, entry, options.workerData, options.resourceLimits);
  let failure: string | undefined;
  let ending = false;
  let exited = false;
  let settleClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    settleClosed = resolve;
  });
  const fail = (code: string): void => {
    if (failure !== undefined) return;
    failure = code;
    options.onFailure(code);
  };
  worker.on('message', (m: unknown) => {
    const parsed = schema.safeParse(m);
    if (!parsed.success) {
      fail(`${entry}-invalid-message`);
      return;
    }
    if (parsed.data.t === 'closed') settleClosed();
    options.onMessage(parsed.data);
  });
  worker.on('error', () => fail(`${entry}-crashed`));
  worker.on('exit', (code) => {
    exited = true;
    if (!ending) fail(`${entry}-exited-${code}`);
    settleClosed();
  });
  let closing: Promise<void> | undefined;
  return {
    worker,
    post: (message, transfer) => {
      if (!exited) worker.postMessage(message, transfer);
    },
    fail,
    failure: () => failure,
    close: () => {
      closing ??= (async () => {
        ending = true;
        if (!exited) worker.postMessage(CLOSE);
        await closed;
        await worker.terminate();
      })();
      return closing;
    },
    terminate: async () => {
      ending = true;
      await worker.terminate();
    },
  };
}

/**
 * Starts the worker entry `name` beside `beside`. From the compiled build, `name.js`. From the TypeScript sources
 * (tests, `tsx`), `name.ts` with tsx's loader registered in the thread first: a worker does not inherit the module
 * hooks of the thread that starts it.
 */
function startWorker(beside: string, name: string, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  const limits = resourceLimits === undefined ? {} : { resourceLimits };
  if (!beside.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, beside), { workerData, ...limits });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, beside).href;
  const boot = `import(${JSON.stringify(tsx)})
    .then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData, ...limits });
}

/** What the worker end does with the parent's messages. */
export interface ParentHandlers<In extends Tagged, Out extends Tagged> {
  /** Parses every message from the parent; one it refuses is `fatal('invalid-message')`. */
  schema: z.ZodType<In>;
  /** Each valid message but `close`. */
  onMessage(message: Exclude<In, Close>): void;
  /** On `close`: flush, and give the `closed` answer; the channel posts it and closes the port (the thread can end). */
  onClose(): Promise<Closed<Out>>;
  /** On `fatal`: flush what must not be lost, tell the parent what it needs to know. Then the thread exits. */
  onFatal(code: string): Promise<void> | void;
}

/** The worker end of a worker channel. `In`, the messages from the parent, must include `Close`. */
export interface ParentChannel<Out extends Tagged> {
  /** Sends a message to the parent, its ArrayBuffers in `transfer` moved rather than copied. */
  post(message: Out, transfer?: readonly ArrayBuffer[]): void;
  /**
   * Starts taking the parent's messages (they wait in the port until then, so a worker can report its startup
   * first). Call once.
   */
  listen<In extends Tagged>(handlers: ParentHandlers<In, Out>): void;
  /**
   * Something only a bug could send: every later message is dropped, `onFatal` runs, and the thread exits with
   * FATAL_EXIT_CODE (the parent then fails closed). Only the first call counts.
   */
  fatal(code: string): void;
}

/** The channel to the thread that started this one. Throws outside a worker thread. */
export function connectToParent<Out extends Tagged>(entry: string): ParentChannel<Out> {
  const port = parentPort;
  if (port === null) throw new Error(`${entry} runs as a worker thread`);
  let broken = false;
  let onFatal: (code: string) => Promise<void> | void = () => undefined;
  const exit = (): never => process.exit(FATAL_EXIT_CODE);
  const fatal = (code: string): void => {
    if (broken) return;
    broken = true;
    Promise.resolve(code).then(onFatal).then(exit, exit);
  };
  return {
    post: (message, transfer) => port.postMessage(message, transfer),
    fatal,
    listen: <In extends Tagged>(handlers: ParentHandlers<In, Out>) => {
      onFatal = (code) => handlers.onFatal(code);
      port.on('message', (m: unknown) => {
        if (broken) return;
        const parsed = handlers.schema.safeParse(m);
        if (!parsed.success) {
          fatal('invalid-message');
          return;
        }
        const message = parsed.data;
        if (message.t !== 'close') {
          handlers.onMessage(message as Exclude<In, Close>);
          return;
        }
        // A close that fails (the audit trail could not be flushed) is an uncaught error: the parent sees a crash.
        void handlers.onClose().then((answer) => {
          port.postMessage(answer);
          port.close();
        });
      });
    },
  };
}
