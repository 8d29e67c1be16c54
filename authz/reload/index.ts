export { DEFAULT_SETTLE_MS, signatureOf, watchReload, type Reloading, type ReloadOptions } from './watch-reload.js';
