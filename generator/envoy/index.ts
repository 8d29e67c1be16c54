export { envoyConfigRoot, ENVOY_CONFIG_PROTOS } from './envoy-root.js';
export { validateProtoJson, PROTO_FINDING_CODES, type ProtoFindingCode } from './validate-proto-json.js';
