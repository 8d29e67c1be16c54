export { CheckInputSchema, requestTimeMs, type CheckInput } from '../model/index.js';
export { fromGrpcCheckRequest, unwrapStruct, unwrapValue } from './check-request.js';
export {
  toCheckResponse,
  RESPONSE_FIELDS,
  type ResponseShape,
  GRPC_OK,
  GRPC_PERMISSION_DENIED,
  type CheckResponseOptions,
} from './check-response.js';
export { rawAuthorizationServiceDefinition, authzRoot, CHECK_PATH } from './grpc-codec.js';
export { decodeCheckRequest, type DecodedCheck } from './check-request-wire.js';
export { createResponseEncoder, type ResponseEncoder } from './response-cache.js';
export { operationOutcome } from './operation-outcome.js';
export { createTurnBatch, type TurnBatch } from './turn-batch.js';
export {
  connectToParent,
  startWorkerChannel,
  CloseSchema,
  FATAL_EXIT_CODE,
  type ParentChannel,
  type WorkerChannel,
} from './worker-channel.js';
export {
  EngineInitSchema,
  ToEngineSchema,
  FromEngineSchema,
  BulkObservedSchema,
  type BulkObserved,
  batchConsistent,
  packBytes,
  unpackItem,
  createBatchOutbox,
  type ToEngine,
  type FromEngine,
  type PackedBatch,
  type BatchOutbox,
} from './decision-thread-protocol.js';
export { applyHttp2Windows } from './http2-windows.js';
export { applyStreamTable } from './http2-stream-table.js';
export {
  listenForChecks,
  AUTHZ_SERVICE,
  type AccessLogReceiver,
  type CheckListener,
  type ListenOptions,
} from './grpc-listener.js';
export {
  ACCESS_LOG_SERVICE,
  PROXY_DECISION_STATE,
  decodeAccessLogs,
  encodeAccessLogs,
  filterStateAny,
  rawAccessLogServiceDefinition,
  type DecodedAccessLogs,
  type ProxyLogEntry,
} from './access-log-wire.js';
export { IdTable } from './id-table.js';
