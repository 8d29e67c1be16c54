export { readPolicyTestFile, PolicyTestFileSchema, type LocatedCase, type PolicyTestFile } from './test-file.js';
export { runPolicyTests, caseRequest, type CaseResult, type PolicyTestRun } from './run-policy-tests.js';
export { textReport, junitReport, summaryLine } from './report.js';
