export { signatureOf, watchReload, type Reloading, type ReloadOptions } from './watch-reload.js';
