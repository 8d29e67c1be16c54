export { CheckInputSchema, requestTimeMs, type CheckInput } from '../model/check-input.js';
export { fromGrpcCheckRequest, unwrapStruct, unwrapValue } from './check-request.js';
export { toCheckResponse, decisionLabel, GRPC_OK, GRPC_PERMISSION_DENIED, type CheckResponseOptions } from './check-response.js';
export { authorizationServiceDefinition, rawAuthorizationServiceDefinition, authzRoot, CHECK_PATH, isDecodedCheck } from './grpc-codec.js';
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
  batchConsistent,
  packBytes,
  unpackItem,
  createBatchOutbox,
  type ToEngine,
  type FromEngine,
  type PackedBatch,
  type BatchOutbox,
} from './decision-thread-protocol.js';
