export { envoyConfigRoot, envoyTypes, ENVOY_CONFIG_PROTOS, type EnvoyTypes, type MissingType } from './envoy-root.js';
export { validateProtoJson, nearMatch, PROTO_FINDING_CODES, type ProtoFindingCode } from './validate-proto-json.js';
