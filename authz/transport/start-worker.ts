/**
 * Starts one of phiguard's worker threads (the audit writer, the decision thread) from the module beside the caller.
 * From the compiled build, `NAME.js`. From the TypeScript sources (tests, `tsx`), `NAME.ts` with tsx's loader
 * registered in the thread first: a worker does not inherit the module hooks of the thread that starts it.
 */
import { Worker } from 'node:worker_threads';

export function startWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
