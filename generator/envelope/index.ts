export { mergeEnvelopes, mergeAll, egressKey, type MergeResult } from './merge.js';
export { importHubble } from './import-hubble.js';
