export {
  CONFIG_FINDING_CODES,
  parseYamlDocuments,
  readYamlDocument,
  readYamlFile,
  readTextFile,
  invalidInput,
  type ConfigFindingCode,
  type YamlDocument,
} from './yaml-documents.js';
export { toYaml } from './to-yaml.js';
