export { mergeEnvelopes, mergeAll, egressKey } from './merge.js';
export { importHubble, type HubbleImport } from './import-hubble.js';
