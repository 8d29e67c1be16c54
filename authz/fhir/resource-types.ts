/**
 * FHIR resource types and the Patient compartment.
 *
 * Resource type names are case-sensitive (FHIR R4 http.html#general: "[type] is the name of a resource type").
 * We accept the union of R4 (4.0.1) and R5 (5.0.0) names so R5 servers work too; anything else is invalid.
 */

const R4_TYPES = `Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent
Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry
ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication CommunicationRequest
CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement
DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest
EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit
FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List
Location Measure MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge
MedicationRequest MedicationStatement MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication
MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition
MessageHeader MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
OperationOutcome Organization OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person
PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson
RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition StructureDefinition
StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer SubstanceProtein
SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task
TerminologyCapabilities TestReport TestScript ValueSet VerificationResult VisionPrescription`;

const R5_ADDED_TYPES = `ActorDefinition AdministrableProductDefinition ArtifactAssessment BiologicallyDerivedProductDispense
Citation ClinicalUseDefinition ConditionDefinition DeviceDispense DeviceUsage EncounterHistory EvidenceReport
FormularyItem GenomicStudy ImagingSelection Ingredient InventoryItem InventoryReport ManufacturedItemDefinition
MedicinalProductDefinition NutritionIntake NutritionProduct PackagedProductDefinition Permission
RegulatedAuthorization RequestOrchestration Requirements SubscriptionStatus SubscriptionTopic SubstanceDefinition
TestPlan Transport`;

/** Every resource type name phiguard accepts in a FHIR path (R4 ∪ R5). */
export const RESOURCE_TYPES: ReadonlySet<string> = new Set(
  `${R4_TYPES} ${R5_ADDED_TYPES}`.split(/\s+/).filter(Boolean),
);

/** Compartment types a search may be scoped to: FHIR R4 compartmentdefinition.html. */
export const COMPARTMENT_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'Encounter',
  'RelatedPerson',
  'Practitioner',
  'Device',
]);

/**
 * Search parameters that place a resource in the Patient compartment, per resource type
 * (FHIR R4 CompartmentDefinition-patient, compartmentdefinition-patient.html). A search that uses one of these
 * parameters names the patients it touches; a search on one of these types without them spans all patients.
 */
/** One line per type: the type, then its compartment parameters (CompartmentDefinition-patient, R4 4.0.1). */
const PATIENT_COMPARTMENT = `
Account subject
AdverseEvent subject
AllergyIntolerance patient recorder asserter
Appointment actor
AppointmentResponse actor
AuditEvent patient
Basic patient author
BodyStructure patient
CarePlan patient performer
CareTeam patient participant
ChargeItem subject
Claim patient payee
ClaimResponse patient
ClinicalImpression subject
Communication subject sender recipient
CommunicationRequest subject sender recipient requester
Composition subject author attester
Condition patient asserter
Consent patient
Coverage policy-holder subscriber beneficiary payor
CoverageEligibilityRequest patient
CoverageEligibilityResponse patient
DetectedIssue patient
DeviceRequest subject performer
DeviceUseStatement subject
DiagnosticReport subject
DocumentManifest subject author recipient
DocumentReference subject author
Encounter patient
EnrollmentRequest subject
EpisodeOfCare patient
ExplanationOfBenefit patient payee
FamilyMemberHistory patient
Flag patient
Goal patient
Group member
ImagingStudy patient
Immunization patient
ImmunizationEvaluation patient
ImmunizationRecommendation patient
Invoice subject patient recipient
List subject source
MeasureReport patient
Media subject
MedicationAdministration patient performer subject
MedicationDispense subject patient receiver
MedicationRequest subject
MedicationStatement subject
MolecularSequence patient
NutritionOrder patient
Observation subject performer
Patient _id link
Person patient
Procedure patient performer
Provenance patient
QuestionnaireResponse subject author
RelatedPerson patient
RequestGroup subject participant
ResearchSubject individual
RiskAssessment subject
Schedule actor
ServiceRequest subject performer
Specimen subject
SupplyDelivery patient
SupplyRequest subject
VisionPrescription patient
`;

export const PATIENT_COMPARTMENT_PARAMS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  PATIENT_COMPARTMENT.trim()
    .split('\n')
    .map((line) => {
      const [type = '', ...params] = line.split(' ');
      return [type, params];
    }),
);

/** True when resources of this type can belong to a patient's compartment. */
export function inPatientCompartment(resourceType: string): boolean {
  return Object.hasOwn(PATIENT_COMPARTMENT_PARAMS, resourceType);
}

const withPatient = new Map(
  Object.entries(PATIENT_COMPARTMENT_PARAMS).map(([t, ps]) => [t, ps.includes('patient') ? ps : [...ps, 'patient']]),
);

/**
 * The patient-linking search parameters for a type: the CompartmentDefinition-patient entries plus `patient`, which
 * R4 defines as the Patient-only form of `subject` on most clinical types (e.g. Observation-patient) and which the
 * compartment table does not list. Types outside the R4 table (R5-only types, system level) treat `patient` and
 * `subject` as patient-linking, so an R5 server does not silently lose patient scope.
 */
export function patientParamsFor(resourceType: string): readonly string[] {
  return withPatient.get(resourceType) ?? ['patient', 'subject'];
}

/** FHIR `id` datatype: [A-Za-z0-9\-\.]{1,64} (R4 datatypes.html#id). Also used for `_history` version ids. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Operation names: `$` followed by a code (R4 operations.html). */
export const OPERATION_NAME = /^\$[A-Za-z][A-Za-z0-9_-]{0,63}$/;
