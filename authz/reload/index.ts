export { signatureOf, watchReload, type Loaded, type Reloading, type ReloadOptions } from './watch-reload.js';
