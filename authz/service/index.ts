export { startAuthzServer, type AuthzServer, type AuthzService } from './start-inline.js';
export { startThreadedAuthzServer, type ThreadedStartOptions } from './start-threaded.js';
export { ServerConfigSchema, type ServerConfig } from './config.js';
export {
  startDecisionEngine,
  clockMs,
  type DecisionEngine,
  type DecisionObserver,
  type StartOptions,
} from './engine.js';
export { createLogger, type Logger } from './logger.js';
export { startupError } from './startup-error.js';
