export { createCheckClient, toGrpcCheckRequest, wrapStruct, wrapValue, type CheckClient } from './check-client.js';
