export {
  explainSnapshot,
  type ExplainSources,
  explain,
  checkInputFor,
  toJson,
  type ExplainRequest,
  type Explanation,
} from './explain.js';
